"""A self-contained HTML report: figures, per-class table and curves, calibration, mistakes, model card, ...."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from movinet_pipeline.components.evaluate.metrics import EvaluationFigures
from movinet_pipeline.core.layouts import ErrorEntry

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]


@dataclass(frozen=True)
class ReportExtras:
    """Sections evaluate adds: the misclassified gallery, per-class precision/recall curves, skipped items."""

    gallery: str = ""
    precision_recall: str = ""
    edge_models: str = ""  # the TFLite stream models' table (edge_models.edge_models_html)
    skipped: list[ErrorEntry] | None = None  # None: not known (no section)


def precision_recall_curves(probabilities: np.ndarray, truth: np.ndarray, labels: list[str], size: int = 300) -> str:
    """One precision/recall curve per label (one-vs-rest on its probability), with its average precision."""
    plot, lines = size - 40, []
    for index, label in enumerate(labels):
        positives = int((truth == index).sum())
        if not positives:
            continue
        order = np.argsort(-probabilities[:, index])
        hits = np.cumsum(truth[order] == index)
        precision, recall = hits / np.arange(1, len(order) + 1), hits / positives
        average_precision = float(np.sum(precision * np.diff(np.concatenate([[0.0], recall]))))
        colour = COLOURS[index % len(COLOURS)]
        points = " ".join(f"{30 + plot * r:.1f},{10 + plot * (1 - p):.1f}" for p, r in zip(precision, recall))
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
                     f'<text class="legend" x="{size + 4}" y="{20 + 16 * len(lines)}" fill="{colour}" '
                     f'font-size="12">{html.escape(label)} (AP {average_precision:.3f})</text>')
    return (f'<h2>Precision and recall per label</h2><svg class="precision-recall" width="{size + 200}" '
            f'height="{size}" xmlns="http://www.w3.org/2000/svg"><line x1="30" y1="{10 + plot}" x2="{30 + plot}" '
            f'y2="{10 + plot}" stroke="#999"/><line x1="30" y1="10" x2="30" y2="{10 + plot}" stroke="#999"/>'
            f'{"".join(lines)}<text x="30" y="{size - 12}" font-size="11">recall 0..1</text>'
            f'<text x="12" y="{10 + plot // 2}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 12 {10 + plot // 2})">precision 0..1</text></svg>')


def _skipped_section(skipped: list[ErrorEntry], shown: int = 50) -> str:
    if not skipped:
        return "<h2>Skipped items</h2><p>None: every item of the export reached the examples.</p>"
    rows = "".join(f"<tr><td>{html.escape(e.item)}</td><td>{html.escape(e.step)}</td><td>{'yes' if e.lost else 'no'}"
                   f'</td><td style="text-align:left">{html.escape(e.reason)}</td></tr>' for e in skipped[:shown])
    more = f"<p>{len(skipped) - shown} more in the examples' errors.jsonl.</p>" if len(skipped) > shown else ""
    return (f"<h2>Skipped items</h2><p>{len(skipped)} item(s) or clip(s) left out before training (lost: labelled "
            f"data that counts against the loss budget):</p><table><tr><th>item</th><th>step</th><th>lost</th>"
            f"<th>reason</th></tr>{rows}</table>{more}")


def _curve_svg(history: dict[str, list[float]], keys: tuple[str, ...], width: int = 420, height: int = 180) -> str:
    """Training curves; the legend sits in its own column right of the plot, so it never covers a curve."""
    series = {key: history[key] for key in keys if history.get(key)}
    if not series:
        return "<p>No training history.</p>"
    values = [v for vs in series.values() for v in vs]
    low, high = min(values + [0.0]), max(values + [1.0])
    epochs = max(len(vs) for vs in series.values())
    legend_width = 120
    lines = []
    for row, ((key, vs), colour) in enumerate(zip(series.items(), COLOURS)):
        points = " ".join(
            f"{20 + (width - 40) * i / max(1, epochs - 1):.1f},"
            f"{height - 20 - (height - 40) * (v - low) / (high - low or 1):.1f}"
            for i, v in enumerate(vs)
        )
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        lines.append(f'<line x1="{width + 4}" y1="{16 + 16 * row}" x2="{width + 20}" y2="{16 + 16 * row}" '
                     f'stroke="{colour}" stroke-width="2"/><text class="legend" x="{width + 24}" y="{20 + 16 * row}" '
                     f'fill="{colour}" font-size="12">{html.escape(key)}</text>')
    axis = (f'<line x1="20" y1="{height - 20}" x2="{width - 20}" y2="{height - 20}" stroke="#999"/>'
            f'<text x="20" y="{height - 4}" font-size="11">epoch 1..{epochs}; y {low:.2f}..{high:.2f}</text>')
    return (f'<svg class="curves" width="{width + legend_width}" height="{height}" '
            f'xmlns="http://www.w3.org/2000/svg">{axis}{"".join(lines)}</svg>')


def _reliability_svg(calibration: dict, size: int = 260) -> str:
    """The reliability diagram: accuracy per confidence bin against the diagonal of perfect calibration."""
    plot = size - 40
    bars = []
    for b in calibration["reliability"]:
        if not b["count"]:
            continue
        x, w = 30 + plot * b["low"], plot * (b["high"] - b["low"])
        bars.append(f'<rect x="{x:.1f}" y="{10 + plot * (1 - b["accuracy"]):.1f}" width="{w:.1f}" '
                    f'height="{plot * b["accuracy"]:.1f}" fill="#1f77b4" stroke="#fff">'
                    f'<title>confidence {b["low"]:.2f}-{b["high"]:.2f}: {b["count"]} clip(s), mean confidence '
                    f'{b["confidence"]:.3f}, accuracy {b["accuracy"]:.3f}</title></rect>')
    return (f'<svg class="reliability" width="{size}" height="{size}" xmlns="http://www.w3.org/2000/svg">'
            f'<line x1="30" y1="{10 + plot}" x2="{30 + plot}" y2="10" stroke="#d62728" stroke-dasharray="4"/>'
            f'{"".join(bars)}<line x1="30" y1="{10 + plot}" x2="{30 + plot}" y2="{10 + plot}" stroke="#999"/>'
            f'<line x1="30" y1="10" x2="30" y2="{10 + plot}" stroke="#999"/>'
            f'<text x="30" y="{size - 12}" font-size="11">confidence 0..1</text>'
            f'<text x="12" y="{10 + plot // 2}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 12 {10 + plot // 2})">accuracy 0..1</text></svg>')


def _calibration_section(calibration: dict | None) -> str:
    if not calibration or not calibration.get("reliability"):
        return ""
    scaled = calibration["temperature"] != 1.0
    lines = [f"<p>Expected calibration error (15 bins) <b>{calibration['ece']:.4f}</b>"
             + (f"; with the model's temperature {calibration['temperature']:.3f} (fitted on "
                f"{html.escape(calibration['fitted_on'])}) <b>{calibration['ece_calibrated']:.4f}</b>" if scaled
                else " (no temperature scaling)") + ". The bars show the probabilities the adapter serves; "
             "the dashed diagonal is perfect calibration.</p>"]
    if calibration.get("fitted_on_evaluation_clips"):
        lines.append('<p style="color:#b35900">Calibration was fitted on these same clips: the calibrated figures '
                     "are optimistic (add a test subset for an independent measure).</p>")
    if calibration.get("thresholds"):
        rows = "".join(f"<tr><td>{html.escape(label)}</td><td>{'never' if t is None else f'{t:.3f}'}</td></tr>"
                       for label, t in calibration["thresholds"].items())
        lines.append(f"<p>Per-label confidence thresholds for precision {calibration['target_precision']:g} (the "
                     f"adapter leaves out predictions below them):</p><table><tr><th>label</th><th>threshold</th>"
                     f"</tr>{rows}</table>")
    return "<h2>Calibration</h2>" + "".join(lines) + _reliability_svg(calibration)


def _confusion_table(figures: EvaluationFigures) -> str:
    labels = [html.escape(label) for label in figures.labels]
    peak = max(max(row) for row in figures.confusion_matrix) or 1
    head = "<tr><th>true \\ predicted</th>" + "".join(f"<th>{label}</th>" for label in labels) + "</tr>"
    rows = []
    for label, row in zip(labels, figures.confusion_matrix):
        cells = "".join(
            f'<td style="background: rgba(31,119,180,{count / peak:.2f})">{count}</td>' for count in row
        )
        rows.append(f"<tr><th>{label}</th>{cells}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _provenance(verdict: dict) -> str:
    measured, data = verdict.get("measured_on") or {}, verdict.get("data") or {}
    warning = "" if measured.get("independent", True) else ' style="color:#b35900"'
    parts = [f"<p{warning}>Figures {html.escape(measured.get('note', ''))}.</p>"]
    if data.get("lost"):
        rows = "".join(f"<tr><td>{html.escape(item['item'])}</td><td>{html.escape(item['step'])}</td>"
                       f"<td style=\"text-align:left\">{html.escape(item['reason'])}</td></tr>"
                       for item in data["lost_items"])
        more = data["lost"] - data["lost_items_listed"]
        parts.append(f"<p>{data['lost']} labelled item(s) or clip(s) lost before training "
                     f"({data['lost_fraction']:.1%}){f'; {more} more in errors.jsonl' if more else ''}:</p>"
                     f"<table><tr><th>item</th><th>step</th><th>reason</th></tr>{rows}</table>")
    else:
        parts.append("<p>No labelled data was lost before training.</p>")
    if data.get("model_annotations_excluded"):
        parts.append(f"<p>{data['model_annotations_excluded']} class annotation(s) made by a model were left out of "
                     "the data (include_model_annotations to keep them).</p>")
    return "".join(parts)


def _model_card_html(card: str) -> str:
    """The model card's Markdown as HTML (Python-Markdown, with tables)."""
    import markdown

    body = markdown.markdown(card, extensions=["tables"])
    for level, nested in (("h2", "h4"), ("h1", "h3")):  # under the report's own <h2>
        body = body.replace(f"<{level}>", f"<{nested}>").replace(f"</{level}>", f"</{nested}>")
    return f'<section class="model-card"><h2>Model card</h2>{body}</section>'


def render_report(figures: EvaluationFigures, verdict: dict, history: dict[str, list[float]],
                  model_name: str, calibration: dict | None = None, model_card: str = "",
                  extras: ReportExtras | None = None) -> str:
    """The self-contained HTML report: figures, verdict, confusion matrix, calibration, curves, model card."""
    extras = extras or ReportExtras()
    per_class = "".join(
        f"<tr><td>{html.escape(c.label)}</td><td>{c.precision:.3f}</td><td>{c.recall:.3f}</td>"
        f"<td>{c.f1:.3f}</td><td>{c.support}</td></tr>"
        for c in figures.per_class
    )
    status = "blessed" if verdict["blessed"] else "not blessed"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Evaluation of {html.escape(model_name)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
.gallery{{display:flex;flex-wrap:wrap;gap:1em}} .gallery figure{{margin:0;max-width:420px}}
.gallery img{{width:100%;image-rendering:pixelated}}</style></head><body>
<h1>Evaluation of {html.escape(model_name)}</h1>
<p>Subset <b>{html.escape(figures.subset)}</b>, {figures.clips} clips.
Top-1 accuracy <b>{figures.top1_accuracy:.3f}</b>; top-{figures.top_k} accuracy <b>{figures.top_k_accuracy:.3f}</b>.</p>
<p>Verdict: <b>{status}</b> &mdash; {html.escape(verdict["reason"])}</p>
<h2>What the figures stand on</h2>{_provenance(verdict)}
<h2>Per class</h2>
<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{per_class}</table>
<h2>Confusion matrix</h2>{_confusion_table(figures)}
{extras.precision_recall}
{_calibration_section(calibration)}
{extras.gallery}
{extras.edge_models}
{"" if extras.skipped is None else _skipped_section(extras.skipped)}
<h2>Training curves</h2>{_curve_svg(history, ("accuracy", "val_accuracy"))}{_curve_svg(history, ("loss", "val_loss"))}
{_model_card_html(model_card) if model_card else ""}
</body></html>
"""

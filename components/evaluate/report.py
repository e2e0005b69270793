"""A self-contained HTML report: headline figures, verdict, per-class table, confusion matrix, training curves."""

from __future__ import annotations

import html

from movinet_pipeline.components.evaluate.metrics import EvaluationFigures


def _curve_svg(history: dict[str, list[float]], keys: tuple[str, ...], width: int = 420, height: int = 180) -> str:
    series = {key: history[key] for key in keys if history.get(key)}
    if not series:
        return "<p>No training history.</p>"
    values = [v for vs in series.values() for v in vs]
    low, high = min(values + [0.0]), max(values + [1.0])
    epochs = max(len(vs) for vs in series.values())
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e"]
    lines = []
    for (key, vs), colour in zip(series.items(), colours):
        points = " ".join(
            f"{20 + (width - 40) * i / max(1, epochs - 1):.1f},"
            f"{height - 20 - (height - 40) * (v - low) / (high - low or 1):.1f}"
            for i, v in enumerate(vs)
        )
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        lines.append(f'<text x="{width - 140}" y="{20 + 14 * len(lines) // 2}" fill="{colour}" font-size="12">'
                     f"{html.escape(key)}</text>")
    axis = (f'<line x1="20" y1="{height - 20}" x2="{width - 20}" y2="{height - 20}" stroke="#999"/>'
            f'<text x="20" y="{height - 4}" font-size="11">epoch 1..{epochs}; y {low:.2f}..{high:.2f}</text>')
    return f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">{axis}{"".join(lines)}</svg>'


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


def render_report(figures: EvaluationFigures, verdict: dict, history: dict[str, list[float]],
                  model_name: str) -> str:
    """The self-contained HTML report: figures, verdict, confusion matrix, training curves."""
    per_class = "".join(
        f"<tr><td>{html.escape(c.label)}</td><td>{c.precision:.3f}</td><td>{c.recall:.3f}</td>"
        f"<td>{c.f1:.3f}</td><td>{c.support}</td></tr>"
        for c in figures.per_class
    )
    status = "blessed" if verdict["blessed"] else "not blessed"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Evaluation of {html.escape(model_name)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}</style></head><body>
<h1>Evaluation of {html.escape(model_name)}</h1>
<p>Subset <b>{html.escape(figures.subset)}</b>, {figures.clips} clips.
Top-1 accuracy <b>{figures.top1_accuracy:.3f}</b>; top-{figures.top_k} accuracy <b>{figures.top_k_accuracy:.3f}</b>.</p>
<p>Verdict: <b>{status}</b> &mdash; {html.escape(verdict["reason"])}</p>
<h2>What the figures stand on</h2>{_provenance(verdict)}
<h2>Per class</h2>
<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{per_class}</table>
<h2>Confusion matrix</h2>{_confusion_table(figures)}
<h2>Training curves</h2>{_curve_svg(history, ("accuracy", "val_accuracy"))}{_curve_svg(history, ("loss", "val_loss"))}
</body></html>
"""

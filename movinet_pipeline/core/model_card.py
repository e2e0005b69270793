"""The model card: what a trained model is for, what it learnt from, how well it does, its limits and lineage.

`evaluate` gathers the facts (`card_facts`: model configuration, data counts, metrics, calibration) into the
evaluation's `model_card.json` and renders `model_card.md` (also in `report.html`); `register_model` renders it
again with the run's lineage (run id, registered name) as the registered model's description and `model_card.md`
artifact. Markdown, so Dataloop, GitHub and the report show it alike.
"""

from __future__ import annotations

import json
from pathlib import Path

from movinet_pipeline import __version__
from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import read_config

SMALL_EVALUATION = 100  # clips under which a top-1 figure moves by >= 1 point per clip
WEAK_RECALL = 0.5


def card_facts(model_dir: str | Path, examples_dir: str | Path, metrics: dict, verdict: dict) -> dict:
    """Everything the card states that `evaluate` knows (JSON-ready)."""
    model = layouts.ModelFolder(Path(model_dir))
    config = read_config(model.config)
    history = json.loads(model.history.read_text()) if model.history.exists() else {}
    stats_path = Path(examples_dir) / layouts.STATS
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    return {
        "model": f"MoViNet-{config.model_id.upper()}", "config": config.to_dict(),
        "labels": layouts.read_labels(model.root), "epochs_trained": len(history.get("epoch", [])),
        "clips_per_subset_label": stats.get("clips_per_subset_label", {}), "dataset": stats.get("dataset", {}),
        "lost": stats.get("lost", 0), "lost_fraction": stats.get("lost_fraction", 0.0),
        "metrics": {key: metrics[key] for key in ("subset", "clips", "top1_accuracy", "top_k", "top_k_accuracy",
                                                  "per_class", "eval_clips") if key in metrics},
        "calibration": {key: value for key, value in (metrics.get("calibration") or {}).items()
                        if key != "reliability"},
        "verdict": {"blessed": verdict.get("blessed"), "reason": verdict.get("reason", ""),
                    "independent": (verdict.get("measured_on") or {}).get("independent", True)},
        "code_version": __version__,
    }


def _data_section(facts: dict) -> list[str]:
    counts, dataset = facts["clips_per_subset_label"], facts["dataset"]
    subsets = [subset for subset in ("train", "validation", "test") if subset in counts]
    lines = ["## Data", "",
             f"Source: `{dataset.get('source') or 'unknown'}`"
             + (f" (Dataloop dataset `{dataset['dataset_id']}`)" if dataset.get("dataset_id") else "")
             + f"; {len(facts['labels'])} labels; clips per label and subset:", "",
             "| label | " + " | ".join(subsets) + " |", "|---|" + "---|" * len(subsets)]
    lines += [f"| {label} | " + " | ".join(str(counts[s].get(label, 0)) for s in subsets) + " |"
              for label in facts["labels"]]
    lines += ["", f"Labelled items or clips lost before training (unreadable, undecodable, ...): {facts['lost']} "
                  f"({facts['lost_fraction']:.1%})."]
    return lines


def _training_section(facts: dict) -> list[str]:
    c = facts["config"]
    return ["## Training", "",
            f"- {facts['model']} base, `{c['conv_type']}` convolutions{', causal' if c['causal'] else ''}; "
            f"pretrained: `{c['pretrained']}`",
            f"- {facts['epochs_trained']} of {c['num_epochs']} epochs (early stopping patience "
            f"{c['early_stopping_patience'] or 'off'}), {c['freeze_backbone_epochs']} with the backbone frozen",
            f"- {c['n_frames']} frames at {c['imgz']}×{c['imgz']}, global batch {c['batch_size']}, {c['optimizer']} "
            f"at {c['learning_rate']:g} ({c['lr_schedule']}), label smoothing {c['label_smoothing']:g}, "
            f"class balance `{c['class_balance']}`, random flips {'on' if c['random_flip'] else 'off'}"]


def _metrics_section(facts: dict) -> list[str]:
    m = facts["metrics"]
    held_out = "held out" if facts["verdict"]["independent"] else "also used to pick the best epoch: optimistic"
    lines = ["## Metrics", "",
             f"On the **{m['subset']}** subset ({held_out}), {m['clips']} clips, {m.get('eval_clips', 1)} window(s) "
             f"per clip: top-1 accuracy **{m['top1_accuracy']:.3f}**, top-{m['top_k']} {m['top_k_accuracy']:.3f}. "
             f"Gate: {'blessed' if facts['verdict']['blessed'] else 'not blessed'} ({facts['verdict']['reason']}).",
             "", "| label | precision | recall | F1 | clips |", "|---|---|---|---|---|"]
    lines += [f"| {c['label']} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |"
              for c in m["per_class"]]
    return lines


def _calibration_section(facts: dict) -> list[str]:
    cal = facts["calibration"]
    if not cal:
        return []
    lines = ["## Calibration", "",
             f"Expected calibration error {cal['ece']:.4f} on {facts['metrics']['subset']}"
             + (f"; {cal['ece_calibrated']:.4f} with temperature {cal['temperature']:.3f} (fitted on "
                f"{cal['fitted_on']}, applied by the adapter)" if cal["temperature"] != 1.0
                else " (no temperature scaling)") + "."]
    if cal.get("thresholds"):
        lines.append(f"Per-label confidence thresholds for precision {cal['target_precision']:g} (the adapter "
                     "leaves out predictions below them): " + ", ".join(
                         f"{label} {'never' if t is None else f'{t:.3f}'}" for label, t in cal["thresholds"].items())
                     + ".")
    return lines


def known_limits(facts: dict) -> list[str]:
    """The limits the figures themselves show, then the ones every model of this pipeline has."""
    m, c, cal = facts["metrics"], facts["config"], facts["calibration"]
    limits = []
    if not facts["verdict"]["independent"]:
        limits.append(f"The metrics come from the {m['subset']} clips that also chose the best epoch; add a `test` "
                      "subset for an unbiased figure.")
    if m["clips"] < SMALL_EVALUATION:
        limits.append(f"Measured on {m['clips']} clips: one clip moves top-1 by {1 / max(1, m['clips']):.3f}.")
    weak = [f"{c_['label']} ({c_['recall']:.2f})" for c_ in m["per_class"] if c_["recall"] < WEAK_RECALL]
    if weak:
        limits.append("Labels recalled less than half the time: " + ", ".join(weak) + ".")
    if cal.get("fitted_on_evaluation_clips"):
        limits.append("Calibration was fitted on the evaluation clips: its figures are optimistic.")
    train = facts["clips_per_subset_label"].get("train", {})
    if train and max(train.values()) > 3 * max(1, min(train.values())):
        limits.append(f"Training labels are imbalanced ({min(train.values())} to {max(train.values())} clips); "
                      f"class balance was `{c['class_balance']}`.")
    limits += [f"Sees {c['n_frames']} frames of each video (sampled over its labelled range) at {c['imgz']}×"
               f"{c['imgz']}: actions shorter than the sampling step or smaller than a few pixels can be missed.",
               "One label per clip: a video with several actions gets the dominant one.",
               "Knows only its labels: anything else is forced into one of them (use the thresholds above, or a "
               "confidence floor, to leave unsure predictions out)."]
    return limits


def render_model_card(facts: dict, lineage: dict | None = None) -> str:
    """The card as Markdown; `lineage` adds what registration knows (run id, registered name, ...)."""
    c = facts["config"]
    lineage = {"code version": facts["code_version"],
               "dataset content key": facts["dataset"].get("export_fingerprint", "unknown"),
               "dataset source": facts["dataset"].get("source", "unknown"), **(lineage or {})}
    lines = [f"# {facts['model']} video classifier: {', '.join(facts['labels'])}", "",
             "## Intended use", "",
             f"Classifies a video (or a labelled frame range of one) into one of {len(facts['labels'])} labels "
             f"learnt from the data below, for pre-labelling and search in Dataloop: base mode on whole clips"
             + (", stream mode frame by frame (causal model)" if c["causal"] else "")
             + ". Not for decisions about people without human review, nor for footage unlike the training videos "
             "(camera, scene, frame rate).", ""]
    lines += _data_section(facts) + [""] + _training_section(facts) + [""] + _metrics_section(facts) + [""]
    calibration = _calibration_section(facts)
    lines += calibration + ([""] if calibration else [])
    lines += ["## Known limits", ""] + [f"- {limit}" for limit in known_limits(facts)] + [""]
    lines += ["## Lineage", ""] + [f"- {key}: `{value}`" for key, value in lineage.items()]
    return "\n".join(lines) + "\n"

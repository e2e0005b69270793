"""evaluate logic: score a trained model on the examples, gate it, and write the evaluation contract.

Output: `metrics.json`, `verdict.json` (`blessed`, `reason`, thresholds, baseline comparison), `report.html`.
Evaluates on `test` when the examples have it, else on `validation`. With a baseline (the model currently serving),
both are scored on the same clips and the candidate must also not fall behind it by more than allowed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from components.evaluate.baseline import BaselineError, fetch_baseline
from components.evaluate.metrics import EvaluationFigures, compute_figures
from components.evaluate.report import render_report
from components.train import data
from components.train.trainer import HISTORY
from movinet_pipeline import contracts
from movinet_pipeline.config import PipelineConfig, read_config

log = logging.getLogger(__name__)
REPORT = "report.html"


def evaluation_subset(examples_dir: Path) -> str:
    return "test" if any((examples_dir / "test").glob("*.tfrecord")) else "validation"


def score(model_dir: Path, examples_dir: Path, subset: str, config: PipelineConfig) -> tuple[np.ndarray, np.ndarray]:
    """Run the exported SavedModel over one subset (centre crops); return (truth, scores): logits, or with
    `eval_clips` > 1 the class probabilities averaged over that many temporal windows per clip."""
    serve = tf.saved_model.load(str(model_dir / contracts.SAVED_MODEL)).signatures["serving_default"]
    views = config.eval_clips
    dataset = data.clip_dataset(examples_dir, subset, config.n_frames, config.imgz, config.batch_size,
                                training=False, views=views)
    truth, scores = [], []
    for frames, labels in dataset:
        if views > 1:
            windows = tf.reshape(frames, [-1, *frames.shape[2:]])  # [B * views, T, H, W, 3]
            logits = serve(image=windows)["logits"]
            scores.append(tf.reduce_mean(tf.reshape(tf.nn.softmax(logits), [-1, views, logits.shape[-1]]), 1).numpy())
        else:
            scores.append(serve(image=frames)["logits"].numpy())
        truth.append(labels.numpy())
    if not truth:
        return np.zeros([0], int), np.zeros([0, 0], np.float32)
    return np.concatenate(truth), np.concatenate(scores)


def gate(figures: EvaluationFigures, config: PipelineConfig, baseline: EvaluationFigures | None = None,
         baseline_source: str = "") -> dict:
    """Bless a model that beats chance, reaches `min_accuracy` and, given a baseline scored on the same clips, changes
    top-1 by at least `min_improvement` against it (0: not worse; negative: a tolerated regression)."""
    chance = 1.0 / len(figures.labels)
    threshold = max(config.min_accuracy, chance)
    absolute = figures.top1_accuracy > chance and figures.top1_accuracy >= config.min_accuracy
    reasons = [f"top-1 accuracy {figures.top1_accuracy:.3f} {'>' if absolute else '<='} required "
               f"(beat chance {chance:.3f}, reach min_accuracy {config.min_accuracy:.3f})"]
    comparison = None
    blessed = absolute
    if baseline is not None:
        change = figures.top1_accuracy - baseline.top1_accuracy
        improved = change >= config.min_improvement - 1e-9
        blessed = blessed and improved
        comparison = {"source": baseline_source, "top1_accuracy": baseline.top1_accuracy, "change": change,
                      "passed": bool(improved)}
        reasons.append(f"against baseline {baseline_source} ({baseline.top1_accuracy:.3f} on the same "
                       f"{baseline.clips} clips) top-1 changes by {change:+.3f}, "
                       f"{'meeting' if improved else 'short of'} min_improvement {config.min_improvement:+.3f}")
    return {"blessed": bool(blessed), "reason": "; ".join(reasons),
            "thresholds": {"min_accuracy": config.min_accuracy, "chance": chance, "required": threshold,
                           "min_improvement": config.min_improvement}, "baseline": comparison}


def _check_comparable(baseline_dir: Path, labels: list[str]) -> None:
    baseline_labels = contracts.read_labels(baseline_dir)
    if baseline_labels != labels:
        raise BaselineError(f"baseline {baseline_dir} has labels {baseline_labels}, the candidate {labels}: they "
                            "cannot be compared on the same clips; drop the baseline or retrain on the same labels")


def _baseline_figures(baseline_dir: Path, examples_dir: Path, subset: str, labels: list[str],
                      config: PipelineConfig) -> EvaluationFigures:
    """The baseline scored on the same clips and windows (`eval_clips`), with its own input size (config.json)."""
    baseline_config = dataclasses.replace(read_config(baseline_dir / "config.json"), eval_clips=config.eval_clips)
    truth, scores = score(baseline_dir, examples_dir, subset, baseline_config)
    return compute_figures(labels, truth, scores, config.top_k, subset)


def evaluate(model_dir: str | Path, examples_dir: str | Path, output_dir: str | Path,
             config: PipelineConfig | None = None, baseline: str = "") -> tuple[EvaluationFigures, dict]:
    """Evaluate the model in `model_dir` on `examples_dir` (against `baseline`: a reference for baseline.py, or
    empty / `none` for none); write metrics, verdict and report to `output_dir`."""
    model_dir, examples_dir, output_dir = Path(model_dir), Path(examples_dir), Path(output_dir)
    config = config or read_config(model_dir / "config.json")
    labels = contracts.read_labels(model_dir)
    if labels != contracts.read_labels(examples_dir):
        raise ValueError(f"labels of the model ({labels}) differ from those of the examples "
                         f"({contracts.read_labels(examples_dir)}); evaluate on examples built for this model")
    subset = evaluation_subset(examples_dir)
    with tempfile.TemporaryDirectory(prefix="baseline-") as work_dir:
        baseline_dir = fetch_baseline(baseline, work_dir)  # before the scoring: a bad baseline fails fast
        if baseline_dir:
            _check_comparable(baseline_dir, labels)
        truth, scores = score(model_dir, examples_dir, subset, config)
        figures = compute_figures(labels, truth, scores, config.top_k, subset)
        baseline_figures = (_baseline_figures(baseline_dir, examples_dir, subset, labels, config)
                            if baseline_dir else None)
    verdict = gate(figures, config, baseline_figures, baseline if baseline_dir else "")
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / contracts.METRICS).write_text(json.dumps({**figures.to_dict(), "eval_clips": config.eval_clips},
                                                           indent=2) + "\n")
    (output_dir / contracts.VERDICT).write_text(json.dumps(verdict, indent=2) + "\n")
    history_path = model_dir / HISTORY
    history = json.loads(history_path.read_text()) if history_path.exists() else {}
    (output_dir / REPORT).write_text(render_report(figures, verdict, history, f"MoViNet-{config.model_id.upper()}"))
    log.info("%s: top-1 %.3f, top-%d %.3f on %d clips (%d window(s) each); %s", subset, figures.top1_accuracy,
             figures.top_k, figures.top_k_accuracy, figures.clips, config.eval_clips, verdict["reason"])
    return figures, verdict

"""evaluate logic: score a trained model on the examples, gate it (gate.py), and write the evaluation contract.

Output (layouts.Evaluation): `metrics.json`, `verdict.json` (`blessed`, `reason`, thresholds, baseline comparison),
`report.html`. Evaluates on `test` when the examples have it, else on `validation`. With a baseline (the model
currently serving, fetched by the resolve_baseline step), both are scored on the same clips and the candidate must
also not fall behind it by more than allowed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import tensorflow as tf

from movinet_pipeline.components.evaluate.gate import gate
from movinet_pipeline.components.evaluate.metrics import EvaluationFigures, compute_figures
from movinet_pipeline.components.evaluate.provenance import annotate
from movinet_pipeline.components.evaluate.report import render_report
from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import PipelineConfig, read_config
from movinet_pipeline.core.model import input_pipeline
from movinet_pipeline.core.registries import ModelReferenceError

log = logging.getLogger(__name__)


def evaluation_subset(examples_dir: Path) -> str:
    """The subset evaluation scores: test when the examples have it, else validation."""
    return "test" if layouts.Examples(str(examples_dir)).record_files("test") else "validation"


def score(model_dir: Path, examples_dir: Path, subset: str, config: PipelineConfig) -> tuple[np.ndarray, np.ndarray]:
    """Score the exported SavedModel on one subset.

    Run the exported SavedModel over one subset (centre crops); return (truth, scores): logits, or with
    `eval_clips` > 1 the class probabilities averaged over that many temporal windows per clip.
    """
    serve = tf.saved_model.load(str(model_dir / layouts.SAVED_MODEL)).signatures["serving_default"]
    views = config.eval_clips
    dataset = input_pipeline.clip_dataset(examples_dir, subset, config.n_frames, config.imgz, config.batch_size,
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


def _check_comparable(baseline_dir: Path, reference: str, labels: list[str]) -> None:
    baseline_labels = layouts.read_labels(baseline_dir)
    if baseline_labels != labels:
        raise ModelReferenceError(f"baseline {reference} has labels {baseline_labels}, the candidate {labels}: they "
                                  "cannot be compared on the same clips; drop the baseline or retrain on the same "
                                  "labels")


def _baseline_figures(baseline_dir: Path, examples_dir: Path, subset: str, labels: list[str],
                      config: PipelineConfig) -> EvaluationFigures:
    """The baseline scored on the same clips and windows (`eval_clips`), with its own input size (config.json)."""
    baseline_config = dataclasses.replace(read_config(layouts.ModelFolder(baseline_dir).config),
                                          eval_clips=config.eval_clips)
    truth, scores = score(baseline_dir, examples_dir, subset, baseline_config)
    return compute_figures(labels, truth, scores, config.top_k, subset)


def evaluate(model_dir: str | Path, examples_dir: str | Path, output_dir: str | Path,
             config: PipelineConfig | None = None, baseline_dir: str | Path | None = None,
             baseline_reference: str = "") -> tuple[EvaluationFigures, dict]:
    """Evaluate a model folder, gate it, and write the evaluation contract.

    Evaluate the model in `model_dir` on `examples_dir` (against the model folder `baseline_dir`, named
    `baseline_reference` in the verdict, when given); write metrics, verdict and report to `output_dir`.
    """
    model, examples = layouts.ModelFolder(Path(model_dir)), Path(examples_dir)
    evaluation = layouts.Evaluation(Path(output_dir))
    config = config or read_config(model.config)
    labels = layouts.read_labels(model.root)
    if labels != layouts.read_labels(examples):
        raise ValueError(f"labels of the model ({labels}) differ from those of the examples "
                         f"({layouts.read_labels(examples)}); evaluate on examples built for this model")
    subset = evaluation_subset(examples)
    baseline = Path(baseline_dir) if baseline_dir else None
    baseline_reference = baseline_reference or str(baseline)
    if baseline:  # before the scoring: a bad baseline fails fast
        _check_comparable(baseline, baseline_reference, labels)
    truth, scores = score(model.root, examples, subset, config)
    figures = compute_figures(labels, truth, scores, config.top_k, subset)
    baseline_figures = _baseline_figures(baseline, examples, subset, labels, config) if baseline else None
    verdict = annotate(gate(figures, config, baseline_figures, baseline_reference if baseline else ""),
                       str(examples), subset)
    evaluation.root.mkdir(parents=True, exist_ok=True)
    evaluation.metrics.write_text(json.dumps({**figures.to_dict(), "eval_clips": config.eval_clips}, indent=2) + "\n")
    evaluation.verdict.write_text(json.dumps(verdict, indent=2) + "\n")
    history = json.loads(model.history.read_text()) if model.history.exists() else {}
    evaluation.report.write_text(render_report(figures, verdict, history, f"MoViNet-{config.model_id.upper()}"))
    log.info("%s: top-1 %.3f, top-%d %.3f on %d clips (%d window(s) each); %s", subset, figures.top1_accuracy,
             figures.top_k, figures.top_k_accuracy, figures.clips, config.eval_clips, verdict["reason"])
    return figures, verdict

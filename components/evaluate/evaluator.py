"""evaluate logic: score a trained model on the examples, gate it (gate.py), and write the evaluation contract.

Output (layouts.Evaluation): `metrics.json` (with `calibration`: ECE, reliability bins), `verdict.json`
(`blessed`, `reason`, thresholds, baseline comparison), `model_card.md` (and its facts, `model_card.json`),
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

from movinet_pipeline.components.evaluate.edge_models import edge_model_rows, edge_models_html
from movinet_pipeline.components.evaluate.gallery import Gallery
from movinet_pipeline.components.evaluate.gate import gate
from movinet_pipeline.components.evaluate.metrics import EvaluationFigures, compute_figures
from movinet_pipeline.components.evaluate.provenance import annotate
from movinet_pipeline.components.evaluate.report import ReportExtras, precision_recall_curves, render_report
from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import PipelineConfig, read_config
from movinet_pipeline.core.model import input_pipeline
from movinet_pipeline.core.model.calibration import (
    Calibration,
    expected_calibration_error,
    reliability_bins,
    window_probabilities,
)
from movinet_pipeline.core.model_card import card_facts, render_model_card
from movinet_pipeline.core.registries import ModelReferenceError

log = logging.getLogger(__name__)


def evaluation_subset(examples_dir: Path) -> str:
    """The subset evaluation scores: test when the examples have it, else validation."""
    return "test" if layouts.Examples(str(examples_dir)).record_files("test") else "validation"


def score_views(model_dir: Path, examples_dir: Path, subset: str, config: PipelineConfig,
                gallery: Gallery | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Run the exported SavedModel over one subset (centre crops): (truth [N], logits [N, eval_clips, C]).

    Each clip is scored on `eval_clips` temporal windows spread over its stored frames (1: the centre window); a
    `gallery` sees every scored batch (to keep the misclassified clips).
    """
    serve = tf.saved_model.load(str(model_dir / layouts.SAVED_MODEL)).signatures["serving_default"]
    views = config.eval_clips
    dataset = input_pipeline.clip_dataset(examples_dir, subset, config.n_frames, config.imgz, config.batch_size,
                                          training=False, views=views, with_ids=True)
    truth, logits = [], []
    for frames, labels, media_ids in dataset:
        windows = tf.reshape(frames, [-1, *frames.shape[-4:]])  # [B * views, T, H, W, 3]
        batch = serve(image=windows)["logits"].numpy()
        logits.append(batch.reshape(len(labels), views, batch.shape[-1]))
        truth.append(labels.numpy())
        if gallery:
            gallery.add(frames.numpy(), truth[-1], logits[-1], media_ids.numpy())
    if not truth:
        return np.zeros([0], int), np.zeros([0, views, 0], np.float32)
    return np.concatenate(truth), np.concatenate(logits)


def clip_scores(view_logits: np.ndarray) -> np.ndarray:
    """What the figures rank: the logits of one window, or the probabilities averaged over several."""
    return view_logits[:, 0] if view_logits.shape[1] == 1 else window_probabilities(view_logits)


def score(model_dir: Path, examples_dir: Path, subset: str, config: PipelineConfig) -> tuple[np.ndarray, np.ndarray]:
    """(truth, scores) on one subset: logits, or with `eval_clips` > 1 the probabilities averaged over the windows."""
    truth, view_logits = score_views(model_dir, examples_dir, subset, config)
    return truth, clip_scores(view_logits)


def calibration_figures(raw: np.ndarray, served: np.ndarray, truth: np.ndarray, calibration: Calibration,
                        subset: str) -> dict:
    """ECE of the `raw` probabilities and of those the model `served` (its temperature), and the latter's bins."""
    return {"ece": expected_calibration_error(raw, truth), "temperature": calibration.temperature,
            "ece_calibrated": expected_calibration_error(served, truth), "fitted_on": calibration.fitted_on,
            "fitted_on_evaluation_clips": bool(calibration.fitted_on) and calibration.fitted_on == subset,
            "target_precision": calibration.target_precision, "thresholds": calibration.thresholds,
            "reliability": [dataclasses.asdict(b) for b in reliability_bins(served, truth)]}


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
    model_calibration = Calibration.read(model.root)
    gallery = Gallery(labels, temperature=model_calibration.temperature)
    truth, view_logits = score_views(model.root, examples, subset, config, gallery)
    figures = compute_figures(labels, truth, clip_scores(view_logits), config.top_k, subset)
    served = window_probabilities(view_logits, model_calibration.temperature)
    calibration = calibration_figures(window_probabilities(view_logits), served, truth, model_calibration, subset)
    baseline_figures = _baseline_figures(baseline, examples, subset, labels, config) if baseline else None
    verdict = annotate(gate(figures, config, baseline_figures, baseline_reference if baseline else ""),
                       str(examples), subset)
    edge_models = edge_model_rows(model.root, examples, subset, config)
    evaluation.root.mkdir(parents=True, exist_ok=True)
    metrics = {**figures.to_dict(), "eval_clips": config.eval_clips, "calibration": calibration,
               **({"edge_models": edge_models} if edge_models else {})}
    evaluation.metrics.write_text(json.dumps(metrics, indent=2) + "\n")
    evaluation.verdict.write_text(json.dumps(verdict, indent=2) + "\n")
    facts = card_facts(model.root, examples, metrics, verdict)
    evaluation.model_card_facts.write_text(json.dumps(facts, indent=2) + "\n")
    card = render_model_card(facts)
    evaluation.model_card.write_text(card)
    history = json.loads(model.history.read_text()) if model.history.exists() else {}
    evaluation.report.write_text(render_report(
        figures, verdict, history, f"MoViNet-{config.model_id.upper()}", calibration, card,
        ReportExtras(gallery.html(), precision_recall_curves(served, truth, labels), edge_models_html(edge_models),
                     layouts.read_errors(layouts.Examples(str(examples)).errors))))
    log.info("%s: expected calibration error %.4f (temperature %.3f: %.4f)", subset, calibration["ece"],
             calibration["temperature"], calibration["ece_calibrated"])
    log.info("%s: top-1 %.3f, top-%d %.3f on %d clips (%d window(s) each); %s", subset, figures.top1_accuracy,
             figures.top_k, figures.top_k_accuracy, figures.clips, config.eval_clips, verdict["reason"])
    return figures, verdict

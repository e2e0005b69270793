"""evaluate logic: score a trained model on the examples, gate it, and write the evaluation contract.

Output: `metrics.json`, `verdict.json` (`blessed`, `reason`, thresholds), `report.html`.
Evaluates on `test` when the examples have it, else on `validation`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import tensorflow as tf

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
    """Run the exported SavedModel over one subset (centre crops); return (truth, logits)."""
    serve = tf.saved_model.load(str(model_dir / contracts.SAVED_MODEL)).signatures["serving_default"]
    dataset = data.clip_dataset(examples_dir, subset, config.n_frames, config.imgz, config.batch_size,
                                training=False)
    truth, logits = [], []
    for frames, labels in dataset:
        logits.append(serve(image=frames)["logits"].numpy())
        truth.append(labels.numpy())
    if not truth:
        return np.zeros([0], int), np.zeros([0, 0], np.float32)
    return np.concatenate(truth), np.concatenate(logits)


def gate(figures: EvaluationFigures, config: PipelineConfig) -> dict:
    """Bless a model that beats chance and reaches `min_accuracy`."""
    chance = 1.0 / len(figures.labels)
    threshold = max(config.min_accuracy, chance)
    blessed = figures.top1_accuracy > chance and figures.top1_accuracy >= config.min_accuracy
    comparison = ">" if blessed else "<="
    reason = (f"top-1 accuracy {figures.top1_accuracy:.3f} {comparison} required "
              f"(beat chance {chance:.3f}, reach min_accuracy {config.min_accuracy:.3f})")
    return {"blessed": bool(blessed), "reason": reason, "thresholds": {"min_accuracy": config.min_accuracy,
            "chance": chance, "required": threshold}, "baseline": None}


def evaluate(model_dir: str | Path, examples_dir: str | Path, output_dir: str | Path,
             config: PipelineConfig | None = None) -> tuple[EvaluationFigures, dict]:
    """Evaluate the model in `model_dir` on `examples_dir`; write metrics, verdict and report to `output_dir`."""
    model_dir, examples_dir, output_dir = Path(model_dir), Path(examples_dir), Path(output_dir)
    config = config or read_config(model_dir / "config.json")
    labels = contracts.read_labels(model_dir)
    if labels != contracts.read_labels(examples_dir):
        raise ValueError(f"labels of the model ({labels}) differ from those of the examples "
                         f"({contracts.read_labels(examples_dir)}); evaluate on examples built for this model")
    subset = evaluation_subset(examples_dir)
    truth, logits = score(model_dir, examples_dir, subset, config)
    figures = compute_figures(labels, truth, logits, config.top_k, subset)
    verdict = gate(figures, config)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / contracts.METRICS).write_text(json.dumps(figures.to_dict(), indent=2) + "\n")
    (output_dir / contracts.VERDICT).write_text(json.dumps(verdict, indent=2) + "\n")
    history_path = model_dir / HISTORY
    history = json.loads(history_path.read_text()) if history_path.exists() else {}
    (output_dir / REPORT).write_text(render_report(figures, verdict, history, f"MoViNet-{config.model_id.upper()}"))
    log.info("%s: top-1 %.3f, top-%d %.3f on %d clips; %s", subset, figures.top1_accuracy, figures.top_k,
             figures.top_k_accuracy, figures.clips, verdict["reason"])
    return figures, verdict

"""The TFLite stream models (float32, float16, int8) measured on the evaluation clips: accuracy, size, latency."""

from __future__ import annotations

import html
import logging
import statistics
from pathlib import Path

import numpy as np

from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.model import input_pipeline as data
from movinet_pipeline.core.model.inference import TfliteStreamModel

log = logging.getLogger(__name__)


def edge_model_rows(model_dir: Path, examples_dir: Path, subset: str, config: PipelineConfig) -> list[dict]:
    """One row per TFLite stream model in `model_dir`, measured on the subset's clips.

    Each clip's centre window is fed frame by frame on one thread: top-1, its change against float32, agreement
    with float32's top label, file size and median per-frame latency.
    """
    models = [(precision, model_dir / layouts.stream_tflite_name(precision)) for precision in layouts.TFLITE_PRECISIONS]
    models = [(precision, path) for precision, path in models if path.is_file()]
    if not models:
        return []
    labels = layouts.read_labels(model_dir)
    clips, truth = [], []
    for frames, label in data.clip_dataset(examples_dir, subset, config.n_frames, config.imgz, 1, training=False):
        clips.append(frames.numpy())
        truth.append(int(label[0]))
    rows, reference = [], None
    for precision, path in models:
        model, frame_seconds = TfliteStreamModel(path, labels, num_threads=1), []
        predicted = np.array([int(np.argmax(model.logits(clip, frame_seconds))) for clip in clips])
        reference = predicted if reference is None else reference
        top1 = float(np.mean(predicted == np.array(truth)))
        rows.append({"precision": precision, "file": path.name, "megabytes": path.stat().st_size / 1e6,
                     "top1_accuracy": top1, "agreement_with_float32": float(np.mean(predicted == reference)),
                     "ms_per_frame": 1000 * statistics.median(frame_seconds), "clips": len(clips)})
    for row in rows:
        row["top1_change"] = row["top1_accuracy"] - rows[0]["top1_accuracy"]
        log.info("TFLite %s stream model: top-1 %.3f (%+.3f against %s), %.2f MB, %.2f ms/frame", row["precision"],
                 row["top1_accuracy"], row["top1_change"], rows[0]["precision"], row["megabytes"], row["ms_per_frame"])
    return rows


def edge_models_html(rows: list[dict]) -> str:
    """The report's table of TFLite stream models ('' when the model has none)."""
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{html.escape(r['precision'])}</td><td>{html.escape(r['file'])}</td><td>{r['megabytes']:.2f}</td>"
        f"<td>{r['top1_accuracy']:.3f}</td><td>{r['top1_change']:+.3f}</td><td>{r['agreement_with_float32']:.3f}</td>"
        f"<td>{r['ms_per_frame']:.2f}</td></tr>" for r in rows)
    return (f"<h2>Edge models (TFLite, stream)</h2><p>On the {rows[0]['clips']} evaluation clips, fed frame by frame "
            "on one CPU thread; the change is against float32.</p><table><tr><th>precision</th><th>file</th>"
            "<th>MB</th><th>top-1</th><th>change</th><th>agrees with float32</th><th>ms / frame</th></tr>"
            f"{body}</table>")

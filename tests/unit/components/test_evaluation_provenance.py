"""An honest gate: the verdict and the report say which subset the figure comes from and what data was lost."""

from __future__ import annotations

import json

from movinet_pipeline.components.evaluate.gate import gate
from movinet_pipeline.components.evaluate.metrics import EvaluationFigures
from movinet_pipeline.components.evaluate.provenance import annotate
from movinet_pipeline.components.evaluate.report import render_report
from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import PipelineConfig

LOST = [{"item": f"/train/bad_{n}.mp4", "reason": "VideoDecodeError: no video stream", "step": "build_tfrecords",
         "lost": True} for n in range(120)]


def _verdict(subset: str, examples) -> dict:
    figures = EvaluationFigures(subset, 8, 0.75, 3, 1.0, [], [[2, 0], [0, 2]], ["down", "up"])
    return figures, annotate(gate(figures, PipelineConfig()), str(examples), subset)


def test_a_figure_from_validation_is_called_optimistic_and_one_from_test_independent(tmp_path):
    figures, verdict = _verdict("validation", tmp_path)
    assert verdict["measured_on"]["independent"] is False
    assert "measured on validation, the subset that also chose the best epoch: optimistic" in verdict["reason"]
    report = render_report(figures, verdict, {}, "MoViNet-A0")
    assert "the subset that also chose the best epoch" in report and "No labelled data was lost" in report
    _, held_out = _verdict("test", tmp_path)
    assert held_out["measured_on"]["independent"] is True and "optimistic" not in held_out["reason"]


def test_lost_items_reach_the_verdict_and_the_report(tmp_path):
    stats = {"lost": len(LOST), "lost_fraction": 0.03, "lost_items": LOST, "model_annotations_excluded": 48}
    (tmp_path / layouts.STATS).write_text(json.dumps(stats))
    figures, verdict = _verdict("test", tmp_path)
    assert verdict["data"]["lost"] == 120 and len(verdict["data"]["lost_items"]) == 100
    assert "120 labelled item(s) or clip(s) lost before training (3.0%)" in verdict["reason"]
    report = render_report(figures, verdict, {}, "MoViNet-A0")
    assert "/train/bad_99.mp4" in report and "20 more in errors.jsonl" in report
    assert verdict["data"]["model_annotations_excluded"] == 48
    assert "48 class annotation(s) made by a model were left out" in report

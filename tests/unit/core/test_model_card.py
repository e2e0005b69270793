"""The model card: sections, the limits the figures show, and the registration's lineage."""

from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.model_card import known_limits, render_model_card

LABELS = ["down", "left", "right", "up"]


def _facts(clips=48, independent=False, recalls=(0.9, 0.9, 0.9, 0.9), train=(40, 40, 40, 40), calibration=None):
    return {
        "model": "MoViNet-A0", "config": PipelineConfig().to_dict(), "labels": LABELS, "epochs_trained": 8,
        "clips_per_subset_label": {"train": dict(zip(LABELS, train)), "validation": dict.fromkeys(LABELS, 12)},
        "dataset": {"source": "dataloop://abc", "dataset_id": "abc", "export_fingerprint": "f" * 64},
        "lost": 1, "lost_fraction": 0.01,
        "metrics": {"subset": "validation", "clips": clips, "top1_accuracy": 0.875, "top_k": 3, "top_k_accuracy": 1.0,
                    "eval_clips": 1, "per_class": [{"label": label, "precision": 0.9, "recall": recall, "f1": 0.9,
                                                    "support": 12} for label, recall in zip(LABELS, recalls)]},
        "calibration": calibration or {}, "verdict": {"blessed": True, "reason": "beats chance", "independent":
                                                      independent},
        "code_version": "1.2.3",
    }


def test_the_card_has_every_section_and_the_figures():
    card = render_model_card(_facts(), {"run id": "run-7"})
    for section in ("# MoViNet-A0 video classifier: down, left, right, up", "## Intended use", "## Data",
                    "## Training", "## Metrics", "## Known limits", "## Lineage"):
        assert section in card
    assert "| right | 40 | 12 |" in card and "top-1 accuracy **0.875**" in card
    assert "- run id: `run-7`" in card and f"- dataset content key: `{'f' * 64}`" in card
    assert "- code version: `1.2.3`" in card and "## Calibration" not in card


def test_known_limits_follow_the_figures():
    quiet = known_limits(_facts(clips=400, independent=True))
    assert not any("chose the best epoch" in limit or "Measured on" in limit for limit in quiet)
    loud = known_limits(_facts(clips=48, recalls=(0.9, 0.25, 0.9, 0.9), train=(48, 48, 4, 48),
                               calibration={"ece": 0.1, "temperature": 1.5, "ece_calibrated": 0.05,
                                            "fitted_on": "validation", "fitted_on_evaluation_clips": True,
                                            "thresholds": {}, "target_precision": 0.0}))
    text = "\n".join(loud)
    assert "also chose the best epoch" in text and "Measured on 48 clips" in text
    assert "left (0.25)" in text and "imbalanced (4 to 48 clips)" in text and "fitted on the evaluation clips" in text


def test_calibration_is_stated_when_fitted():
    card = render_model_card(_facts(calibration={"ece": 0.1234, "temperature": 1.5, "ece_calibrated": 0.0456,
                                                 "fitted_on": "validation", "fitted_on_evaluation_clips": False,
                                                 "thresholds": {"left": 0.7, "up": None}, "target_precision": 0.9}))
    assert "Expected calibration error 0.1234" in card and "0.0456 with temperature 1.500" in card
    assert "left 0.700, up never" in card

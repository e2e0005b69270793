"""Calibration: ECE and the reliability bins, temperature scaling, per-label thresholds, calibration.json."""

import numpy as np
import pytest

from movinet_pipeline.core.model.calibration import (
    Calibration,
    calibrate,
    expected_calibration_error,
    fit_temperature,
    label_thresholds,
    reliability_bins,
    softmax,
)


def _drawn(temperature: float, clips: int = 20000, classes: int = 5, seed: int = 0):
    """Logits whose softmax is the true label distribution, then sharpened by `temperature` (overconfident)."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(0.0, 2.0, size=(clips, classes))
    truth = np.array([rng.choice(classes, p=p) for p in softmax(true_logits)])
    return true_logits * temperature, truth


def test_ece_is_small_when_confidence_matches_accuracy_and_large_when_overconfident():
    calibrated_logits, truth = _drawn(1.0)
    assert expected_calibration_error(softmax(calibrated_logits), truth) < 0.02
    overconfident, truth = _drawn(3.0)
    assert expected_calibration_error(softmax(overconfident), truth) > 0.1
    bins = reliability_bins(softmax(overconfident), truth)
    assert sum(b.count for b in bins) == len(truth) and len(bins) == 15
    assert all(b.confidence >= b.accuracy for b in bins if b.count > 200), "overconfident in every populated bin"


def test_temperature_scaling_recovers_the_sharpening_and_removes_the_calibration_error():
    logits, truth = _drawn(3.0)
    assert fit_temperature(logits, truth) == pytest.approx(3.0, rel=0.1)
    fitted = calibrate(logits, truth, list("abcde"), temperature_scaling=True, target_precision=0.0,
                       subset="validation")
    assert fitted.ece_before > 0.1 and fitted.ece_after < 0.02 and fitted.thresholds == {}
    np.testing.assert_allclose(fitted.probabilities(logits).argmax(1), logits.argmax(1))  # ranking unchanged


def test_thresholds_are_the_lowest_confidence_reaching_the_target_precision():
    # label 0 predicted 4 times: confidences 0.9 (right), 0.8 (right), 0.7 (wrong), 0.6 (right); label 1 always wrong
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4], [0.2, 0.8]])
    truth = np.array([0, 0, 1, 0, 0])
    assert label_thresholds(probabilities, truth, ["a", "b"], 0.75) == {"a": 0.6, "b": None}  # 3/4 at 0.6
    assert label_thresholds(probabilities, truth, ["a", "b"], 0.9) == {"a": 0.8, "b": None}  # 2/2 at 0.8


def test_calibration_json_round_trips_and_the_thresholds_filter_predictions(tmp_path):
    calibration = Calibration(temperature=2.0, target_precision=0.9, thresholds={"a": 0.6, "b": None},
                              fitted_on="validation", clips=5)
    calibration.write(tmp_path)
    again = Calibration.read(tmp_path)
    assert again == calibration
    assert again.keeps("a", 0.6) and not again.keeps("a", 0.59) and not again.keeps("b", 0.99)
    assert again.keeps("unknown label", 0.1)
    assert Calibration.read(tmp_path / "elsewhere") == Calibration()  # none written: identity
    np.testing.assert_allclose(again.probabilities(np.array([[2.0, 0.0]])), softmax(np.array([[1.0, 0.0]])))

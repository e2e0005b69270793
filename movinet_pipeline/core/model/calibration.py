"""Confidence calibration: expected calibration error, temperature scaling and per-label confidence thresholds.

`calibration.json` in a model folder (written by training when asked, read by evaluation and the Dataloop adapter):

    {"temperature": 1.7, "target_precision": 0.9, "thresholds": {"left": 0.62, "right": null, ...},
     "fitted_on": "validation", "clips": 48, "ece_before": 0.12, "ece_after": 0.03}

Probabilities are `softmax(logits / temperature)`. A label's threshold is the lowest confidence at which its top-1
predictions on the fitting subset reach `target_precision` (null: no threshold reaches it, so the label is never
confident enough); a prediction below its label's threshold is left out.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from movinet_pipeline.core import layouts

ECE_BINS = 15  # as Guo et al. (2017), "On Calibration of Modern Neural Networks"


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of `logits / temperature`."""
    scaled = np.asarray(logits, np.float64) / temperature
    if not scaled.size:
        return scaled
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def window_probabilities(window_logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities [N, C] of clips scored on several windows: softmax(logits / T) averaged over [N, V, C]."""
    return np.mean([softmax(window_logits[:, v], temperature) for v in range(window_logits.shape[1])], axis=0)


@dataclass(frozen=True)
class ReliabilityBin:
    """Top-1 predictions whose confidence falls in [low, high): their mean confidence and accuracy."""

    low: float
    high: float
    count: int
    confidence: float
    accuracy: float


def reliability_bins(probabilities: np.ndarray, truth: np.ndarray, bins: int = ECE_BINS) -> list[ReliabilityBin]:
    """The reliability diagram's bins (equal-width confidence bins; empty bins have count 0)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    result = []
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        result.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), count,
                                     float(confidence[members].mean()) if count else 0.0,
                                     float(correct[members].mean()) if count else 0.0))
    return result


def expected_calibration_error(probabilities: np.ndarray, truth: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: the clip-weighted mean gap between confidence and accuracy over the reliability bins."""
    total = len(truth)
    if not total:
        return 0.0
    return float(sum(b.count / total * abs(b.accuracy - b.confidence) for b in reliability_bins(probabilities, truth,
                                                                                                 bins)))


def fit_temperature(logits: np.ndarray, truth: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of `truth` (searched in [0.05, 20])."""
    from scipy.optimize import minimize_scalar

    def nll(log_temperature: float) -> float:
        probabilities = softmax(logits, float(np.exp(log_temperature)))
        return float(-np.mean(np.log(probabilities[np.arange(len(truth)), truth] + 1e-12)))

    found = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(found.x))


def label_thresholds(probabilities: np.ndarray, truth: np.ndarray, labels: list[str],
                     target_precision: float) -> dict[str, float | None]:
    """Per label, the lowest confidence from which its top-1 predictions reach `target_precision` (None: never)."""
    predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    thresholds: dict[str, float | None] = {}
    for index, label in enumerate(labels):
        mine = predicted == index
        order = np.argsort(-confidence[mine])
        hits = np.cumsum(truth[mine][order] == index)
        precision = hits / np.arange(1, len(order) + 1)
        # the lowest threshold whose predictions at or above it are precise enough (scanning from the top)
        reaching = np.nonzero(precision >= target_precision)[0]
        thresholds[label] = float(confidence[mine][order][reaching[-1]]) if len(reaching) else None
    return thresholds


@dataclass(frozen=True)
class Calibration:
    """What calibration.json holds (see the module docstring)."""

    temperature: float = 1.0
    target_precision: float = 0.0
    thresholds: dict[str, float | None] = field(default_factory=dict)
    fitted_on: str = ""
    clips: int = 0
    ece_before: float = 0.0
    ece_after: float = 0.0

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities of a batch of logits."""
        return softmax(logits, self.temperature)

    def rescale(self, probabilities: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from uncalibrated ones (softmax(log p / T): the logits' shift cancels)."""
        if self.temperature == 1.0:
            return np.asarray(probabilities)
        return softmax(np.log(np.maximum(np.asarray(probabilities, np.float64), 1e-30)), self.temperature)

    def keeps(self, label: str, confidence: float) -> bool:
        """Whether a prediction of `label` at `confidence` passes the label's threshold (no threshold: it does)."""
        if label not in self.thresholds:
            return True
        threshold = self.thresholds[label]
        return threshold is not None and confidence >= threshold

    def write(self, model_dir: str | Path) -> None:
        """Write calibration.json into a model folder."""
        path = layouts.ModelFolder(Path(model_dir)).calibration
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, model_dir: str | Path) -> Calibration:
        """A model folder's calibration (identity when it has none)."""
        path = layouts.ModelFolder(Path(model_dir)).calibration
        return cls(**json.loads(path.read_text())) if path.exists() else cls()


def calibrate(logits: np.ndarray, truth: np.ndarray, labels: list[str], temperature_scaling: bool,
              target_precision: float, subset: str) -> Calibration:
    """Fit the temperature (when asked) and the per-label thresholds (when `target_precision` > 0) on one subset."""
    temperature = fit_temperature(logits, truth) if temperature_scaling else 1.0
    calibrated = softmax(logits, temperature)
    thresholds = label_thresholds(calibrated, truth, labels, target_precision) if target_precision else {}
    return Calibration(temperature, target_precision, thresholds, subset, len(truth),
                       expected_calibration_error(softmax(logits), truth),
                       expected_calibration_error(calibrated, truth))

"""Classification figures from labels and scores: top-1, top-k, per-class precision/recall/F1, confusion matrix."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ClassFigures:
    """Precision, recall and F1 of one label."""
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class EvaluationFigures:
    """What evaluation measured on one subset (metrics.json)."""
    subset: str
    clips: int
    top1_accuracy: float
    top_k: int
    top_k_accuracy: float
    per_class: list[ClassFigures]
    confusion_matrix: list[list[int]]  # rows: true label, columns: predicted label
    labels: list[str]

    def to_dict(self) -> dict:
        """The figures as JSON-ready values."""
        return asdict(self)


def compute_figures(labels: list[str], truth: np.ndarray, scores: np.ndarray, top_k: int,
                    subset: str) -> EvaluationFigures:
    """`truth` [N] class indices, `scores` [N, C] logits or probabilities."""
    if len(truth) == 0:
        raise ValueError(f"no {subset} clip to evaluate")
    k = min(top_k, len(labels))
    predicted = scores.argmax(axis=1)
    top_k_hits = (np.argsort(-scores, axis=1)[:, :k] == truth[:, None]).any(axis=1)
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    np.add.at(matrix, (truth, predicted), 1)
    per_class = []
    for index, label in enumerate(labels):
        hits = matrix[index, index]
        predicted_as = matrix[:, index].sum()
        support = matrix[index].sum()
        precision = hits / predicted_as if predicted_as else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(ClassFigures(label, float(precision), float(recall), float(f1), int(support)))
    return EvaluationFigures(
        subset=subset,
        clips=int(len(truth)),
        top1_accuracy=float((predicted == truth).mean()),
        top_k=k,
        top_k_accuracy=float(top_k_hits.mean()),
        per_class=per_class,
        confusion_matrix=matrix.tolist(),
        labels=list(labels),
    )

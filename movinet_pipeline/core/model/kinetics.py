"""The Kinetics-600 class names, in the order of the outputs of TF Hub's and Model Garden's MoViNet classifiers.

From Model Garden's `official/projects/movinet/files/kinetics_600_labels.txt` (Apache 2.0), shipped as package data:
a pretrained model without labels of its own predicts these names.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

LABELS_FILE = Path(__file__).with_name("kinetics_600_labels.txt")


@cache
def kinetics_600_labels() -> tuple[str, ...]:
    """The 600 class names, output index order."""
    return tuple(LABELS_FILE.read_text(encoding="utf-8").splitlines())

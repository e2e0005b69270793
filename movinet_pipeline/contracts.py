"""File names and small readers/writers of the contracts between steps (see DESIGN.md, "Contracts")."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

from movinet_pipeline import storage

MANIFEST = "manifest.jsonl"
LABELS = "labels.json"
ERRORS = "errors.jsonl"
STATS = "stats.json"
METRICS = "metrics.json"  # evaluation contract: figures
VERDICT = "verdict.json"  # evaluation contract: the gate's decision
SAVED_MODEL = "saved_model"  # model contract: base-mode SavedModel folder
STREAM_MODEL = "stream"  # model contract: stream SavedModel folder (causal models)
STREAM_TFLITE = "stream.tflite"  # model contract: TFLite stream model, one frame per call (causal, conv_type 2plus1d)
EXPORT_INFO = "export.json"
SUBSETS = ("train", "validation", "test")


@dataclass(frozen=True)
class ManifestEntry:
    """One labelled clip of the exported dataset. `end_frame` is inclusive; None means to the end of the video."""

    item_id: str
    video: str  # relative to the export root
    label: str
    subset: str
    start_frame: int
    end_frame: int | None
    fps: float | None


@dataclass(frozen=True)
class ErrorEntry:
    """A dead letter: an item a step could not use, and why."""

    item: str
    reason: str
    step: str


def write_jsonl(path: str | Path, rows: Iterable[object]) -> int:
    lines = [json.dumps(asdict(row), sort_keys=True) + "\n" for row in rows]  # type: ignore[call-overload]
    storage.write_text(path, "".join(lines))
    return len(lines)


def read_manifest(root: str | Path) -> Iterator[ManifestEntry]:
    for line in storage.read_text(storage.join(root, MANIFEST)).splitlines():
        if line.strip():
            yield ManifestEntry(**json.loads(line))


def read_errors(path: str | Path) -> list[ErrorEntry]:
    if not storage.exists(path):
        return []
    return [ErrorEntry(**json.loads(line)) for line in storage.read_text(path).splitlines() if line.strip()]


def write_labels(root: str | Path, labels: list[str]) -> None:
    storage.write_text(storage.join(root, LABELS), json.dumps(labels, indent=2) + "\n")


def read_labels(root: str | Path) -> list[str]:
    path = storage.join(root, LABELS)
    if not storage.exists(path):
        raise FileNotFoundError(f"{path} is missing: is {root} the output of the previous step?")
    labels = json.loads(storage.read_text(path))
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"{path} must hold a JSON list of label names")
    return labels

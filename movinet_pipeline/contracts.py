"""File names and small readers/writers of the contracts between steps (see DESIGN.md, "Contracts")."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

MANIFEST = "manifest.jsonl"
LABELS = "labels.json"
ERRORS = "errors.jsonl"
STATS = "stats.json"
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


def write_jsonl(path: Path, rows: Iterable[object]) -> int:
    count = 0
    with path.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(asdict(row), sort_keys=True) + "\n")  # type: ignore[call-overload]
            count += 1
    return count


def read_manifest(root: Path) -> Iterator[ManifestEntry]:
    with (Path(root) / MANIFEST).open() as handle:
        for line in handle:
            if line.strip():
                yield ManifestEntry(**json.loads(line))


def read_errors(path: Path) -> list[ErrorEntry]:
    if not path.exists():
        return []
    return [ErrorEntry(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def write_labels(root: Path, labels: list[str]) -> None:
    (Path(root) / LABELS).write_text(json.dumps(labels, indent=2) + "\n")


def read_labels(root: Path) -> list[str]:
    path = Path(root) / LABELS
    try:
        labels = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{path} is missing: is {root} the output of the previous step?") from error
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"{path} must hold a JSON list of label names")
    return labels

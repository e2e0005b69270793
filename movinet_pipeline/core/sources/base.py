"""What every dataset source offers: a content key (cheap, from metadata) and an export to the dataset contract."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)
STEP = "export_dataset"


class ExportError(RuntimeError):
    """The export cannot produce a usable dataset; the message says what to fix."""


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote.

    Clips per subset, labels, items skipped (listed in `errors.jsonl`), and model-made annotations left out.
    """

    clips: int
    clips_per_subset: dict[str, int]
    labels: list[str]
    skipped: int
    model_annotations_excluded: int = 0


class DatasetSource(Protocol):
    """A dataset the pipeline can train on (`dataset_source` picks the implementation for a URI)."""

    uri: str
    resumes_into_output: bool  # whether `export` may be rerun into its own output to resume

    def fingerprint_rows(self) -> list[list]:
        """Metadata rows (item and annotation ids, sizes, times) whose change means the data changed."""

    def export(self, output: str | Path) -> ExportSummary:
        """Write the exported-dataset contract (layouts.ExportedDataset) into `output`."""


def content_key(source: DatasetSource, *options: str) -> str:
    """The content key of `source` under `options` (filters): KFP's cache key for the export follows the data."""
    digest = hashlib.sha256(json.dumps([source.uri, *options]).encode())
    rows = source.fingerprint_rows()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, default=str).encode())
    key = digest.hexdigest()
    log.info("content key of %s: %s (%d entries)", source.uri, key[:16], len(rows))
    return key

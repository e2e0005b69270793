"""The content key of a dataset source, so a cached export is reused only while the data is unchanged.

KFP caches a step by its inputs; `source` alone (a dataset id) would hand back a stale export after items or labels
changed. This cheap, never-cached step reads only metadata (item and annotation JSON pages for Dataloop, file
names, sizes and modification times for a folder) and returns a hash that the export step takes as an input.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from movinet_pipeline.dataloop import connect, entity_id, is_dataloop_uri

log = logging.getLogger(__name__)


def source_fingerprint(source: str, dql_filter: str = "", subset_filters: str = "") -> str:
    digest = hashlib.sha256(json.dumps([source, dql_filter, subset_filters]).encode())
    rows = _dataloop_rows(entity_id(source)) if is_dataloop_uri(source) else _folder_rows(Path(source))
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, default=str).encode())
    key = digest.hexdigest()
    log.info("content key of %s: %s (%d entries)", source, key[:16], len(rows))
    return key


def _folder_rows(folder: Path) -> list[list]:
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset folder {folder} does not exist")
    return [[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns]
            for p in sorted(folder.rglob("*")) if p.is_file()]


def _dataloop_rows(dataset_id: str) -> list[list]:
    dl = connect()
    dataset = dl.datasets.get(dataset_id=dataset_id)
    items = [[i.id, i.filename, i.metadata.get("system", {}).get("size"), i.updated_at or i.created_at]
             for page in dataset.items.list() for i in page]
    annotations = [[a.id, a.item_id, a.label, a.updated_at, a.start_frame, a.end_frame]
                   for page in dataset.annotations.list() for a in page]
    return sorted(items) + sorted(annotations)

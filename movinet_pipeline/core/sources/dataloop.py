"""A Dataloop dataset as a dataset source: download its videos and annotations with dtlpy, then build the contract.

dtlpy's own `dataset.download(annotation_options=[JSON])` does the transfer (the gate's JSON export for the
annotations, parallel item streams for the videos), so the output folder is exactly a user's download folder.
An interrupted export resumes: dtlpy writes each video to `<file>.download` and renames it only once its size
matches the item's, so a finished file is never fetched again; stale partial files are removed first.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients.dataloop import connect
from movinet_pipeline.core.layouts import ErrorEntry
from movinet_pipeline.core.sources.base import STEP, ExportError, ExportSummary
from movinet_pipeline.core.sources.download_folder import export_local

log = logging.getLogger(__name__)
VIDEO_MIMETYPES = "video/*"


def parse_filter(value: str | dict | None, name: str) -> dict:
    """A DQL filter given as JSON (`{"filter": {...}}` or the bare `{...}` condition) -> the bare condition."""
    if value in (None, "", {}):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ExportError(f"{name} is not valid JSON ({error}): {value!r}") from None
    if not isinstance(value, dict):
        raise ExportError(f"{name} must be a JSON object (a DQL filter), got {value!r}")
    return value.get("filter", value) if "filter" in value else value


def _items_query(*conditions: dict) -> dict:
    """A custom items query: files that are not hidden, AND every condition given."""
    clauses = [{"hidden": False}, {"type": "file"}, *[c for c in conditions if c]]
    return {"filter": {"$and": clauses}, "resource": "items", "page": 0, "pageSize": 1000}


def _list_items(dl, dataset, query: dict) -> list:
    filters = dl.Filters(custom_filter=query, resource=dl.FiltersResource.ITEM)
    return [item for page in dataset.items.list(filters=filters) for item in page]


def _remove_partial_downloads(output: Path) -> None:
    items = output / layouts.ITEMS
    for partial in items.rglob("*.download") if items.is_dir() else ():
        log.info("removing partial download %s (an earlier export was interrupted)", partial)
        partial.unlink()


def export_dataloop(dataset_id: str, output: str | Path, dql_filter: str | dict | None = None,
                    subset_filters: str | dict | None = None) -> ExportSummary:
    """Export Dataloop dataset `dataset_id` into `output`.

    `dql_filter` narrows the items (JSON DQL). `subset_filters` ({"train": DQL, "validation": DQL, ...}) assigns
    subsets by query; without it, subsets come from the top folder (/train, /validation, /test) or ML-subset tags.
    """
    output = Path(output)
    base = parse_filter(dql_filter, "filter")
    per_subset = {subset: parse_filter(value, f"subset filter {subset!r}")
                  for subset, value in (parse_filter(subset_filters, "subset_filters") or {}).items()}
    unknown = sorted(set(per_subset) - set(layouts.SUBSETS))
    if unknown:
        raise ExportError(f"subset_filters names unknown subsets {unknown}; allowed: {list(layouts.SUBSETS)}")
    dl = connect()
    try:
        dataset = dl.datasets.get(dataset_id=dataset_id)
    except dl.exceptions.NotFound:
        raise ExportError(f"Dataloop dataset {dataset_id!r} not found (or not visible to this user)") from None
    log.info("exporting Dataloop dataset %s (%s) -> %s", dataset.name, dataset.id, output)
    output.mkdir(parents=True, exist_ok=True)
    _remove_partial_downloads(output)
    errors: list[ErrorEntry] = []
    subsets: dict[str, str] = {}
    selections = per_subset.items() if per_subset else [("", {})]
    for subset, condition in selections:
        candidates = _list_items(dl, dataset, _items_query(base, condition))
        videos = [item for item in candidates if (item.mimetype or "").startswith("video/")]
        errors += [ErrorEntry(item=item.filename, reason=f"not a video (mimetype {item.mimetype!r})", step=STEP)
                   for item in candidates if item not in videos]
        if per_subset and not videos:
            raise ExportError(f"subset filter {subset!r} matches no video in dataset {dataset.name!r}")
        subsets.update({item.id: subset for item in videos if subset})
        log.info("%s%d video item(s) to download (%d other item(s) skipped)",
                 f"{subset}: " if subset else "", len(videos), len(candidates) - len(videos))
        query = _items_query(base, condition, {"metadata.system.mimetype": VIDEO_MIMETYPES})
        dataset.download(local_path=str(output), annotation_options=[dl.ViewAnnotationOptions.JSON],
                         filters=dl.Filters(custom_filter=query, resource=dl.FiltersResource.ITEM),
                         overwrite=False, to_items_folder=True)
    return export_local(output, output, subsets=subsets, origin=f"dataloop://{dataset.id}", errors=errors)



def _fingerprint_rows(dataset_id: str) -> list[list]:
    dl = connect()
    dataset = dl.datasets.get(dataset_id=dataset_id)
    items = [[i.id, i.filename, i.metadata.get("system", {}).get("size"), i.updated_at or i.created_at]
             for page in dataset.items.list() for i in page]
    annotations = [[a.id, a.item_id, a.label, a.updated_at, a.start_frame, a.end_frame]
                   for page in dataset.annotations.list() for a in page]
    return sorted(items) + sorted(annotations)


@dataclass(frozen=True)
class DataloopSource:
    """`dataloop://<dataset-id>`, narrowed by a DQL `dql_filter`, subsets by folder, tag or `subset_filters`."""

    dataset_id: str
    uri: str
    dql_filter: str = ""
    subset_filters: str = ""

    resumes_into_output = True  # dtlpy skips the videos already downloaded

    def fingerprint_rows(self) -> list[list]:
        """Item and annotation ids, sizes and update times (metadata pages only, no video bytes)."""
        return _fingerprint_rows(self.dataset_id)

    def export(self, output: str | Path) -> ExportSummary:
        """See `DatasetSource.export`."""
        return export_dataloop(self.dataset_id, output, self.dql_filter, self.subset_filters)

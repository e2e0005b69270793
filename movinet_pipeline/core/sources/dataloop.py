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
from movinet_pipeline.core.clients.dataloop import about, connect, retrying
from movinet_pipeline.core.item_paths import UnsafeItemName, item_relative_path
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


def _unsafe_names(items: list) -> dict[str, tuple[str, str]]:
    """Items whose name would leave the download folder (dtlpy joins names as given): id -> (name, reason)."""
    unsafe = {}
    for item in items:
        try:
            item_relative_path(item.filename)
        except UnsafeItemName as error:
            unsafe[item.id] = (item.filename, str(error))
    return unsafe


def _remove_partial_downloads(output: Path) -> None:
    items = output / layouts.ITEMS
    for partial in items.rglob("*.download") if items.is_dir() else ():
        log.info("removing partial download %s (an earlier export was interrupted)", partial)
        partial.unlink()


def export_dataloop(dataset_id: str, output: str | Path, dql_filter: str | dict | None = None,
                    subset_filters: str | dict | None = None, include_model_annotations: bool = False
                    ) -> ExportSummary:
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
    with about(f"dataset {dataset_id!r}"):
        dataset = dl.datasets.get(dataset_id=dataset_id)
    log.info("exporting Dataloop dataset %s (%s) -> %s", dataset.name, dataset.id, output)
    output.mkdir(parents=True, exist_ok=True)
    _remove_partial_downloads(output)
    errors: list[ErrorEntry] = []
    subsets: dict[str, str] = {}
    selections = per_subset.items() if per_subset else [("", {})]
    for subset, condition in selections:
        with about(f"the items of dataset {dataset.name!r} ({dataset.id})"):
            _download_selection(dl, dataset, output, base, subset, condition, bool(per_subset), errors, subsets)
    return export_local(output, output, subsets=subsets, origin=f"dataloop://{dataset.id}", errors=errors,
                        include_model_annotations=include_model_annotations)


def _download_selection(dl, dataset, output: Path, base: dict, subset: str, condition: dict, by_filter: bool,
                        errors: list[ErrorEntry], subsets: dict[str, str]) -> None:
    """Download the videos of one selection (a subset filter, or everything), noting what is skipped and why."""
    candidates = _list_items(dl, dataset, _items_query(base, condition))
    videos = [item for item in candidates if (item.mimetype or "").startswith("video/")]
    errors += [ErrorEntry(item=item.filename, reason=f"not a video (mimetype {item.mimetype!r})", step=STEP,
                          lost=False) for item in candidates if item not in videos]
    unsafe = _unsafe_names(videos)
    errors += [ErrorEntry(item=f"{item_id} {name!r}"[:300], reason=reason, step=STEP)
               for item_id, (name, reason) in unsafe.items()]
    videos = [item for item in videos if item.id not in unsafe]
    if by_filter and not videos:
        raise ExportError(f"subset filter {subset!r} matches no video in dataset {dataset.name!r}")
    subsets.update({item.id: subset for item in videos if subset})
    log.info("%s%d video item(s) to download (%d other item(s) skipped)",
             f"{subset}: " if subset else "", len(videos), len(candidates) - len(videos))
    query = _items_query(base, condition, {"metadata.system.mimetype": VIDEO_MIMETYPES},
                         {"id": {"$nin": sorted(unsafe)}} if unsafe else {})
    dataset.download(local_path=str(output), annotation_options=[dl.ViewAnnotationOptions.JSON],
                     filters=dl.Filters(custom_filter=query, resource=dl.FiltersResource.ITEM),
                     overwrite=False, to_items_folder=True)


def _fingerprint_rows(dataset_id: str) -> list[list]:
    dl = connect()
    with about(f"dataset {dataset_id!r}"):
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
    include_model_annotations: bool = False

    resumes_into_output = True  # dtlpy skips the videos already downloaded

    def fingerprint_rows(self) -> list[list]:
        """Item and annotation ids, sizes and update times (metadata pages only, no video bytes)."""
        return retrying(lambda: _fingerprint_rows(self.dataset_id), what=f"reading dataset {self.dataset_id}")

    def export(self, output: str | Path) -> ExportSummary:
        """See `DatasetSource.export`; transient errors are retried (the download resumes where it stopped)."""
        return retrying(lambda: export_dataloop(self.dataset_id, output, self.dql_filter, self.subset_filters,
                                                self.include_model_annotations),
                        what=f"exporting dataset {self.dataset_id}")

"""A Dataloop dataset as a dataset source: download its videos and annotations with dtlpy, then build the contract.

dtlpy's own `dataset.download(annotation_options=[JSON])` does the transfer (the gate's JSON export for the
annotations, parallel item streams for the videos), so the output folder is exactly a user's download folder.
An interrupted export resumes: dtlpy writes each video to `<file>.download` and renames it only once its size
matches the item's, so a finished file is never fetched again; stale partial files are removed first.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients.dataloop import about, connect, retrying
from movinet_pipeline.core.examples.clip_cache import ClipCache
from movinet_pipeline.core.item_paths import UnsafeItemName, item_relative_path
from movinet_pipeline.core.layouts import ErrorEntry
from movinet_pipeline.core.sources.base import STEP, ExportError, ExportSummary
from movinet_pipeline.core.sources.download_folder import dataloop_identity, export_local, plan_item

log = logging.getLogger(__name__)
VIDEO_MIMETYPES = "video/*"
ID_BATCH = 500  # item ids per download query (a DQL `$in` list)


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
                    subset_filters: str | dict | None = None, include_model_annotations: bool = False,
                    cache: ClipCache | None = None, videos_in_workers: bool = False) -> ExportSummary:
    """Export Dataloop dataset `dataset_id` into `output`.

    `dql_filter` narrows the items (JSON DQL). `subset_filters` ({"train": DQL, "validation": DQL, ...}) assigns
    subsets by query; without it, subsets come from the top folder (/train, /validation, /test) or ML-subset tags.
    With a clip `cache`, the annotations come first and only the videos with a clip not in the cache are downloaded.
    With `videos_in_workers`, no video is downloaded: the Beam workers fetch them (export.json's `video_source`).
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
    plan = _VideoPlan(dataset, cache, include_model_annotations, videos_in_workers)
    for subset, condition in selections:
        with about(f"the items of dataset {dataset.name!r} ({dataset.id})"):
            _download_selection(dl, dataset, output, base, subset, condition, bool(per_subset), errors, subsets,
                                plan)
    origin = f"dataloop://{dataset.id}"
    if videos_in_workers:
        log.info("the Beam workers will fetch the videos from %s; exporting the manifest and annotations", origin)
    return export_local(output, output, subsets=subsets, origin=origin, errors=errors,
                        include_model_annotations=include_model_annotations, cache=cache, identity=dataloop_identity,
                        video_source=origin if videos_in_workers else "")


@dataclass(frozen=True)
class _VideoPlan:
    """Which videos an export must download: all, none (the Beam workers fetch them), or those with an uncached clip.

    Unless it downloads all, the item JSON files (item + annotations, where dtlpy's export would put them) are
    written from the item and annotation listings, so the plan needs no export command; then only the videos with
    a clip not in the cache (none when the workers fetch them) are downloaded, without annotations. The annotation
    and cache listings are read once per export, whatever the number of selections.
    """

    dataset: object  # the dtlpy dataset
    cache: ClipCache | None
    include_model_annotations: bool
    videos_in_workers: bool = False

    @property
    def downloads_all(self) -> bool:
        """Whether every video of the selection is downloaded (dtlpy's own download, JSON included)."""
        return not self.cache and not self.videos_in_workers

    @property
    def checks_cache(self) -> bool:
        """Whether the export downloads only videos with a clip not in the cache."""
        return bool(self.cache) and not self.videos_in_workers

    @functools.cached_property
    def _annotations(self) -> dict[str, list[dict]]:
        """The dataset's annotations (platform JSON) by item id, from its annotation pages."""
        by_item: dict[str, list[dict]] = {}
        for page in self.dataset.annotations.list():
            for annotation in page:
                by_item.setdefault(annotation.item_id, []).append(annotation.to_json())
        return by_item

    @functools.cached_property
    def _stored(self) -> set[str]:
        return self.cache.stored_keys()

    def needed(self, output: Path, videos: list, subsets: dict[str, str]) -> list[str]:
        """The ids of `videos` (dtlpy items) whose video the export needs; writes their JSON."""
        needed = []
        for video in videos:
            item = {**video.to_json(), "annotations": self._annotations.get(video.id, [])}
            path = output / layouts.ITEM_JSON / item_relative_path(video.filename).with_suffix(".json")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(item))
            if self.checks_cache and self.cache.missing(self._entries(item, subsets.get(video.id)), self._stored):
                needed.append(video.id)
        if self.checks_cache:
            log.info("clip cache: %d of %d video(s) have every clip cached; downloading %d",
                     len(videos) - len(needed), len(videos), len(needed))
        return needed

    def _entries(self, item: dict, subset: str | None) -> list:
        """The item's manifest entries with its content identity (none when it is skipped)."""
        planned = plan_item(item, item.get("filename", "?"), subset, self.include_model_annotations)
        identity = dataloop_identity(item, Path())
        return [dataclasses.replace(entry, content_id=identity) for entry in planned.entries]


def _download_selection(dl, dataset, output: Path, base: dict, subset: str, condition: dict, by_filter: bool,
                        errors: list[ErrorEntry], subsets: dict[str, str], plan: _VideoPlan) -> None:
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
    if plan.downloads_all:  # one query for the whole selection, videos and their JSON
        _download(dl, dataset, output, query, [dl.ViewAnnotationOptions.JSON])
        return
    needed = plan.needed(output, videos, subsets)
    for start in range(0, len(needed), ID_BATCH):
        _download(dl, dataset, output, _items_query({"id": {"$in": needed[start:start + ID_BATCH]}}), None)


def _download(dl, dataset, output: Path, query: dict, annotation_options: list | None) -> None:
    """Download with dtlpy (in parallel) the items `query` selects into items/ (and their JSON into json/)."""
    dataset.download(local_path=str(output), annotation_options=annotation_options,
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
    cache: ClipCache | None = None
    videos_in_workers: bool = False  # the Beam workers fetch the videos; the export writes JSON and manifest only

    resumes_into_output = True  # dtlpy skips the videos already downloaded

    def fingerprint_rows(self) -> list[list]:
        """Item and annotation ids, sizes and update times (metadata pages only, no video bytes)."""
        return retrying(lambda: _fingerprint_rows(self.dataset_id), what=f"reading dataset {self.dataset_id}")

    def export(self, output: str | Path) -> ExportSummary:
        """See `DatasetSource.export`; transient errors are retried (the download resumes where it stopped)."""
        return retrying(lambda: export_dataloop(self.dataset_id, output, self.dql_filter, self.subset_filters,
                                                self.include_model_annotations, self.cache, self.videos_in_workers),
                        what=f"exporting dataset {self.dataset_id}")

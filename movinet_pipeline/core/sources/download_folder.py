"""A Dataloop download folder as a dataset source, and the conversion every source ends with (`export_local`).

Input is what `dataset.download(local_path, annotation_options=[dl.ViewAnnotationOptions.JSON])` writes:
`items/<remote dir>/<file>` and `json/<remote dir>/<stem>.json` (item JSON with `annotations`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.clients.dataloop import is_dataloop_uri
from movinet_pipeline.core.examples.clip_cache import ClipCache
from movinet_pipeline.core.item_paths import UnsafeItemName, item_relative_path
from movinet_pipeline.core.layouts import ErrorEntry, ManifestEntry
from movinet_pipeline.core.sources.base import STEP, ExportError, ExportSummary

log = logging.getLogger(__name__)


def subset_of(item: dict) -> str | None:
    """Subset from the item's top folder (`/train/...`) or, failing that, its ML-subset tag."""
    top = item.get("dir", "/").strip("/").split("/")[0]
    if top in layouts.SUBSETS:
        return top
    tags = item.get("metadata", {}).get("system", {}).get("tags", {}) or {}
    for subset in layouts.SUBSETS:
        if tags.get(subset):
            return subset
    return None


def made_by_model(annotation: dict) -> bool:
    """Whether a model made `annotation` (dtlpy records the model in `metadata.user.model`); unknown: no."""
    return bool(((annotation.get("metadata") or {}).get("user") or {}).get("model"))


def clips_of(item: dict, video: str, subset: str | None, include_model_annotations: bool = False
             ) -> tuple[list[ManifestEntry], int]:
    """One manifest entry per `class` annotation, and how many a model made (left out unless asked).

    An annotation's frame range bounds its clip; `include_model_annotations` keeps the model-made ones.
    Raises ValueError/TypeError on an annotation whose frame range is not a number, negative, or reversed.
    """
    system = item.get("metadata", {}).get("system", {})
    fps = system.get("fps")
    entries, by_model = [], 0
    for annotation in item.get("annotations") or []:
        if annotation.get("type") != "class" or not annotation.get("label"):
            continue
        if made_by_model(annotation) and not include_model_annotations:
            by_model += 1
            continue
        frames = (annotation.get("metadata") or {}).get("system") or {}
        start = int(frames.get("frame") or 0)
        end = None if frames.get("endFrame") is None else int(frames["endFrame"])
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"annotation {annotation.get('id', '?')} ({annotation['label']!r}) has frame range "
                             f"{start}..{end}: the start must be >= 0 and not after the end")
        entries.append(ManifestEntry(item_id=item["id"], video=video, label=annotation["label"], subset=subset or "",
                                     start_frame=start, end_frame=end, fps=float(fps) if fps else None))
    return entries, by_model


Identity = Callable[[dict, Path], str]  # (item JSON, video file) -> the video's content identity


def file_identity(item: dict, video: Path) -> str:
    """A local video's identity: the SHA-256 of its bytes (a folder's files carry no trustworthy version)."""
    with open(video, "rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()


def dataloop_identity(item: dict, video: Path) -> str:
    """A Dataloop item's identity from its metadata (no bytes needed): id, size, checksum if given, update time."""
    system = (item.get("metadata") or {}).get("system") or {}
    version = item.get("updatedAt") or item.get("createdAt") or ""
    return f"dataloop:{item['id']}:{system.get('size')}:{system.get('md5') or ''}:{version}"


def export_local(source: str | Path, output: str | Path, subsets: dict[str, str] | None = None,
                 origin: str | None = None, errors: list[ErrorEntry] | None = None,
                 include_model_annotations: bool = False, cache: ClipCache | None = None,
                 identity: Identity = file_identity, video_source: str = "") -> ExportSummary:
    """Export a Dataloop download folder at `source` (a local folder or `gs://`) into `output` (may be `source`).

    `subsets` maps item ids to their subset when filters, not folders or tags, define it; `origin` is what
    export.json records as the source (default: the folder); `errors` are problems found before the download.
    Annotations a model made (a deployed adapter's predictions) are left out and counted, unless
    `include_model_annotations` (e.g. once people have reviewed them). With a clip `cache`, every entry carries its
    video's content identity (`identity` of a local file; a `gs://` file's from its listing), and an item whose
    clips are all cached needs no video file. With a `video_source` (written to export.json) the videos stay where
    they are and the Beam workers fetch them: `dataloop://<dataset-id>` (no video file needed here) or `source`
    itself (its videos are read in place).

    Items that are not videos, have no class label, sit in no subset, have an unsafe name, or whose JSON or
    annotations are unreadable are reported in `errors.jsonl` and skipped; the export fails only when train or
    validation ends up empty.
    """
    output = Path(output)
    files = storage.list_files(source)
    json_names = [name for name in files if name.startswith(f"{layouts.ITEM_JSON}/") and name.endswith(".json")]
    if not json_names and not storage.exists(storage.join(source, layouts.ITEM_JSON)):
        raise ExportError(f"{source} is not a Dataloop download folder: {storage.join(source, layouts.ITEM_JSON)} "
                          "is missing")
    output.mkdir(parents=True, exist_ok=True)
    entries: list[ManifestEntry] = []
    errors = list(errors or [])
    dataset_ids: set[str] = set()
    by_model = 0
    stored_keys = functools.cache(cache.stored_keys) if cache else None  # listed at the first missing video only
    in_dataloop = is_dataloop_uri(video_source)
    for name in json_names:
        try:
            item = json.loads(storage.read_text(storage.join(source, name)))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            errors.append(ErrorEntry(item=name, reason=f"unreadable item JSON: {error!r}", step=STEP))
            continue
        planned = plan_item(item, name, (subsets or {}).get(item.get("id")), include_model_annotations)
        by_model += planned.by_model
        if planned.error:
            errors.append(planned.error)
            continue
        video = planned.video.as_posix()
        listed = files.get(video)
        content_id = _content_id(item, source, video, listed, identity) if cache or video_source else ""
        clips = [dataclasses.replace(clip, content_id=content_id) for clip in planned.entries]
        if not listed and not in_dataloop and not (cache and content_id and not cache.missing(clips, stored_keys())):
            errors.append(ErrorEntry(item=item["filename"], reason=f"video file {video} is missing", step=STEP))
            continue
        dataset_ids.add(item.get("datasetId") or "")
        if listed and not video_source:
            _copy(source, video, output)
        _copy(source, name, output)
        entries.extend(clips)
    if by_model:
        log.info("left out %d class annotation(s) made by a model (include_model_annotations to keep them)",
                 by_model)
    summary = _finish(output, entries, errors, by_model)
    write_export_info(output, origin or _origin(source), ",".join(sorted(filter(None, dataset_ids))),
                      model_annotations_excluded=by_model, video_source=video_source)
    return summary


def _origin(source: str | Path) -> str:
    """export.json's `source` for a folder: its URI, or `local:<absolute path>`."""
    return str(source) if storage.is_remote(source) else f"local:{Path(source).resolve()}"


def _content_id(item: dict, source: str | Path, video: str, listed: storage.FileInfo | None,
                identity: Identity) -> str:
    """A video's content identity: from its listing (size, update time) under a `gs://` folder, else `identity`."""
    if storage.is_remote(source):
        return f"gcs:{storage.join(source, video)}:{listed.size}:{listed.updated}" if listed else ""
    with contextlib.suppress(FileNotFoundError):  # a missing video: its clips may be cached
        return identity(item, Path(source, video))
    return ""


def _copy(source: str | Path, name: str, output: Path) -> None:
    """Put `source/name` at `output/name`: a hard link (else a copy) locally, a streamed download from `gs://`."""
    target = output / name
    if target.exists():
        return
    if storage.is_remote(source):
        storage.copy_to_local(storage.join(source, name), target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(Path(source, name), target)
    except OSError:
        shutil.copy2(Path(source, name), target)


@dataclass(frozen=True)
class PlannedItem:
    """What an item JSON yields: its video's relative path and manifest entries, or the reason it is skipped."""

    video: Path | None = None
    entries: list[ManifestEntry] = dataclasses.field(default_factory=list)
    error: ErrorEntry | None = None
    by_model: int = 0


def plan_item(item: dict, name: str, subset: str | None, include_model_annotations: bool) -> PlannedItem:
    """An item JSON's entries (content identity not yet set), or why it is skipped; `subset` overrides its own."""
    filename = item.get("filename")
    if not isinstance(filename, str):
        return PlannedItem(error=ErrorEntry(item=name, reason="unreadable item JSON: no filename", step=STEP))
    try:
        video = Path(layouts.ITEMS) / item_relative_path(filename)
    except UnsafeItemName as error:
        return PlannedItem(error=ErrorEntry(item=f"{item.get('id', name)} {filename!r}"[:300], reason=str(error),
                                            step=STEP))
    mimetype = item.get("metadata", {}).get("system", {}).get("mimetype", "")
    if not mimetype.startswith("video/"):
        return PlannedItem(error=ErrorEntry(item=filename, reason=f"not a video (mimetype {mimetype!r})", step=STEP,
                                            lost=False))
    try:
        clips, by_model = clips_of(item, str(video), subset or subset_of(item), include_model_annotations)
    except (ValueError, TypeError, AttributeError) as error:
        return PlannedItem(error=ErrorEntry(item=filename, reason=f"unreadable annotation: {error}", step=STEP))
    if not clips:
        reason = "only model-made class annotations" if by_model else "no class annotation (unlabelled)"
        return PlannedItem(error=ErrorEntry(item=filename, reason=reason, step=STEP, lost=False), by_model=by_model)
    if not clips[0].subset:
        return PlannedItem(error=ErrorEntry(item=filename, reason="in no subset folder (/train, /validation, /test) "
                                            "and no ML-subset tag", step=STEP), by_model=by_model)
    return PlannedItem(video, clips, by_model=by_model)


def fingerprint(output: Path) -> str:
    """Content key of an export: the manifest plus every video's content identity or size, so new data, new key.

    (An entry with a content identity may have no video file: its clips come from the clip cache.)
    """
    digest = hashlib.sha256((output / layouts.MANIFEST).read_bytes())
    for entry in layouts.read_manifest(output):
        version = entry.content_id or (output / entry.video).stat().st_size
        digest.update(f"{entry.video}:{version}".encode())
    return digest.hexdigest()


def write_export_info(output: Path, source: str, dataset_id: str, model_annotations_excluded: int = 0,
                      video_source: str = "") -> None:
    """Write export.json: source, dataset id, content fingerprint, model-made annotations left out, video source.

    `video_source`: where the Beam workers fetch the videos, when the export did not download them ("" otherwise).
    """
    info = {"source": source, "dataset_id": dataset_id, "export_fingerprint": fingerprint(output),
            "model_annotations_excluded": model_annotations_excluded, "video_source": video_source}
    (output / layouts.EXPORT_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def _check_labels_in_both_subsets(entries: list[ManifestEntry]) -> None:
    """A label must have clips in train (to be learned) and in validation (to be measured)."""
    subsets_of: dict[str, set[str]] = {}
    for entry in entries:
        subsets_of.setdefault(entry.label, set()).add(entry.subset)
    lopsided = {label: sorted(subsets) for label, subsets in sorted(subsets_of.items())
                if not {"train", "validation"} <= subsets}
    if lopsided:
        raise ExportError("every label needs clips in both train and validation; "
                          + ", ".join(f"{label!r} is only in {'/'.join(s)}" for label, s in lopsided.items()))


def _finish(output: Path, entries: list[ManifestEntry], errors: list[ErrorEntry], by_model: int) -> ExportSummary:
    per_subset = Counter(entry.subset for entry in entries)
    for subset in ("train", "validation"):
        if not per_subset[subset]:
            raise ExportError(
                f"subset {subset!r} has no labelled clip (found {dict(per_subset) or 'none'}, "
                f"{len(errors)} item(s) skipped; see the reasons above)"
                + "".join(f"\n  {e.item}: {e.reason}" for e in errors[:10])
            )
    labels = sorted({entry.label for entry in entries})
    _check_labels_in_both_subsets(entries)
    layouts.write_jsonl(output / layouts.MANIFEST, entries)
    layouts.write_labels(output, labels)
    layouts.write_jsonl(output / layouts.ERRORS, errors)
    for error in errors:
        log.warning("skipped %s: %s", error.item, error.reason)
    summary = ExportSummary(len(entries), dict(sorted(per_subset.items())), labels, len(errors), by_model)
    log.info("exported %d clips %s, %d labels, %d item(s) skipped -> %s",
             summary.clips, summary.clips_per_subset, len(labels), summary.skipped, output)
    return summary


@dataclass(frozen=True)
class DownloadFolderSource:
    """A folder (local or `gs://`) in the layout of `dataset.download(path, annotation_options=[JSON])`; no filters.

    `videos_in_workers`: the export writes the manifest and item JSON only, and the Beam workers read each video in
    place (a `gs://` folder with a remote runner).
    """

    folder: str
    uri: str
    include_model_annotations: bool = False
    cache: ClipCache | None = None
    videos_in_workers: bool = False

    resumes_into_output = False

    def fingerprint_rows(self) -> list[list]:
        """File names, sizes and modification times: cheap, and new or changed files change the key."""
        if not storage.is_remote(self.folder) and not Path(self.folder).is_dir():
            raise FileNotFoundError(f"dataset folder {self.folder} does not exist")
        return [[name, info.size, info.updated] for name, info in storage.list_files(self.folder).items()]

    def export(self, output: str | Path) -> ExportSummary:
        """See `DatasetSource.export`."""
        return export_local(self.folder, output, include_model_annotations=self.include_model_annotations,
                            cache=self.cache, video_source=self.folder if self.videos_in_workers else "")

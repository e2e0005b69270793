"""Dataset sources: where a run's videos and labels come from (`dataset_source` picks one for a URI).

- `dataloop://<dataset-id>`: a Dataloop dataset, through dtlpy (`dataloop.py`);
- a folder (local or `gs://`): a Dataloop download folder, `items/` + `json/` (`download_folder.py`).

Each gives a content key (`base.content_key`, for KFP's cache) and an export to the exported-dataset contract.
"""

from __future__ import annotations

import dataclasses
import json

from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.clients.dataloop import entity_id, is_dataloop_uri
from movinet_pipeline.core.config import EXPORT_KEYS, PipelineConfig
from movinet_pipeline.core.examples.clip_cache import ClipCache, SamplingOptions
from movinet_pipeline.core.sources.base import DatasetSource, ExportError, ExportSummary, content_key
from movinet_pipeline.core.sources.dataloop import DataloopSource
from movinet_pipeline.core.sources.download_folder import DownloadFolderSource

__all__ = ["DatasetSource", "ExportError", "ExportSummary", "dataset_source", "export_options_json",
           "source_content_key"]


def export_options_json(config: PipelineConfig) -> str:
    """What the export step needs from `config`, as JSON (make_config's `export_options` output).

    The export keys (config.EXPORT_KEYS) and, with a `cache_root`, the sampling options that key the clip cache (so
    the export downloads only the videos whose clips are not cached).
    """
    values = {key: getattr(config, key) for key in EXPORT_KEYS}
    if config.cache_root:
        values["sampling"] = dataclasses.asdict(SamplingOptions.from_config(config))
    return json.dumps(values, sort_keys=True)


def _options(export_options: str | dict | None) -> dict:
    """The export options given as JSON or a mapping; unknown keys are an error."""
    options = json.loads(export_options or "{}") if isinstance(export_options, str) else dict(export_options or {})
    unknown = sorted(set(options) - {*EXPORT_KEYS, "sampling"})
    if unknown:
        raise ExportError(f"export_options has unknown keys {unknown}; allowed: {[*EXPORT_KEYS, 'sampling']}")
    return options


def _clip_cache(options: dict) -> ClipCache | None:
    if not options.get("cache_root"):
        return None
    if "sampling" not in options:
        raise ExportError("export_options has a cache_root but no sampling options (see export_options_json)")
    return ClipCache(options["cache_root"], SamplingOptions(**options["sampling"]))


def dataset_source(uri: str, dql_filter: str = "", subset_filters: str = "",
                   export_options: str | dict | None = None, remote_runner: bool = False) -> DatasetSource:
    """The source named by `uri`.

    Filters (DQL as JSON) apply to Dataloop datasets only; `export_options`: from `export_options_json(config)` (JSON or
    a mapping); `remote_runner`: whether the Beam job runs on remote workers (then, with `video_download: auto`,
    they fetch a Dataloop dataset's videos themselves).
    """
    options = _options(export_options)
    include, cache = bool(options.get("include_model_annotations", False)), _clip_cache(options)
    mode = options.get("video_download", "auto")
    in_workers = mode == "workers" or (mode == "auto" and remote_runner)
    if is_dataloop_uri(uri):
        return DataloopSource(entity_id(uri), uri, dql_filter or "", subset_filters or "", include, cache, in_workers)
    if dql_filter or subset_filters:
        raise ExportError("filters apply to Dataloop sources (dataloop://<dataset-id>), not to a local folder")
    if in_workers and remote_runner and not storage.is_remote(uri):
        if mode == "workers":
            raise ExportError(f"video_download=workers: remote Beam workers read a download folder's videos in "
                              f"place, so it must be on gs://, not {uri!r} (or use video_download=export)")
        in_workers = False  # the export copies a local folder's videos into its artifact, which workers can reach
    return DownloadFolderSource(uri, uri, include, cache, in_workers)


def source_content_key(uri: str, dql_filter: str = "", subset_filters: str = "",
                       export_options: str | dict | None = None) -> str:
    """The content key of the data `uri` and the filters select, under the export options (`base.content_key`)."""
    options = json.dumps(_options(export_options), sort_keys=True)
    return content_key(dataset_source(uri, dql_filter, subset_filters, export_options), dql_filter or "",
                       subset_filters or "", options)

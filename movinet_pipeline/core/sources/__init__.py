"""Dataset sources: where a run's videos and labels come from (`dataset_source` picks one for a URI).

- `dataloop://<dataset-id>`: a Dataloop dataset, through dtlpy (`dataloop.py`);
- a folder: a Dataloop download folder, `items/` + `json/` (`download_folder.py`).

Each gives a content key (`base.content_key`, for KFP's cache) and an export to the exported-dataset contract.
"""

from __future__ import annotations

import json
from pathlib import Path

from movinet_pipeline.core.clients.dataloop import entity_id, is_dataloop_uri
from movinet_pipeline.core.sources.base import DatasetSource, ExportError, ExportSummary, content_key
from movinet_pipeline.core.sources.dataloop import DataloopSource
from movinet_pipeline.core.sources.download_folder import DownloadFolderSource

__all__ = ["DatasetSource", "ExportError", "ExportSummary", "dataset_source", "source_content_key"]


def _options(export_options: str | dict | None) -> dict:
    """The export keys (config.EXPORT_KEYS) given as JSON or a mapping; unknown keys are an error."""
    from movinet_pipeline.core.config import EXPORT_KEYS

    options = json.loads(export_options or "{}") if isinstance(export_options, str) else dict(export_options or {})
    unknown = sorted(set(options) - set(EXPORT_KEYS))
    if unknown:
        raise ExportError(f"export_options has unknown keys {unknown}; allowed: {list(EXPORT_KEYS)}")
    return options


def dataset_source(uri: str, dql_filter: str = "", subset_filters: str = "",
                   export_options: str | dict | None = None) -> DatasetSource:
    """The source named by `uri`.

    Filters (DQL as JSON) apply to Dataloop datasets only; `export_options`: the configuration's export keys (JSON
    or a mapping).
    """
    include = bool(_options(export_options).get("include_model_annotations", False))
    if is_dataloop_uri(uri):
        return DataloopSource(entity_id(uri), uri, dql_filter or "", subset_filters or "", include)
    if dql_filter or subset_filters:
        raise ExportError("filters apply to Dataloop sources (dataloop://<dataset-id>), not to a local folder")
    return DownloadFolderSource(Path(uri), uri, include)


def source_content_key(uri: str, dql_filter: str = "", subset_filters: str = "",
                       export_options: str | dict | None = None) -> str:
    """The content key of the data `uri` and the filters select, under the export options (`base.content_key`)."""
    options = json.dumps(_options(export_options), sort_keys=True)
    return content_key(dataset_source(uri, dql_filter, subset_filters, export_options), dql_filter or "",
                       subset_filters or "", options)

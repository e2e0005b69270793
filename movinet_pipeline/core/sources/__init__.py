"""Dataset sources: where a run's videos and labels come from (`dataset_source` picks one for a URI).

- `dataloop://<dataset-id>`: a Dataloop dataset, through dtlpy (`dataloop.py`);
- a folder: a Dataloop download folder, `items/` + `json/` (`download_folder.py`).

Each gives a content key (`base.content_key`, for KFP's cache) and an export to the exported-dataset contract.
"""

from __future__ import annotations

from pathlib import Path

from movinet_pipeline.core.clients.dataloop import entity_id, is_dataloop_uri
from movinet_pipeline.core.sources.base import DatasetSource, ExportError, ExportSummary, content_key
from movinet_pipeline.core.sources.dataloop import DataloopSource
from movinet_pipeline.core.sources.download_folder import DownloadFolderSource

__all__ = ["DatasetSource", "ExportError", "ExportSummary", "dataset_source", "source_content_key"]


def dataset_source(uri: str, dql_filter: str = "", subset_filters: str = "") -> DatasetSource:
    """The source named by `uri`; filters (DQL as JSON) apply to Dataloop datasets only."""
    if is_dataloop_uri(uri):
        return DataloopSource(entity_id(uri), uri, dql_filter or "", subset_filters or "")
    if dql_filter or subset_filters:
        raise ExportError("filters apply to Dataloop sources (dataloop://<dataset-id>), not to a local folder")
    return DownloadFolderSource(Path(uri), uri)


def source_content_key(uri: str, dql_filter: str = "", subset_filters: str = "") -> str:
    """The content key of the data `uri` and the filters select (see `base.content_key`)."""
    return content_key(dataset_source(uri, dql_filter, subset_filters), dql_filter or "", subset_filters or "")

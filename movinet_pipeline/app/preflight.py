"""What a local run checks before the pipeline starts: a failure that can be known up front is one line, at once.

The source exists and is readable (a Dataloop download folder, or a Dataloop dataset these credentials see); the
registry is reachable (a Dataloop project these credentials see, or a folder that can be created); credentials are
present when Dataloop is involved.
"""

from __future__ import annotations

import os
from pathlib import Path

from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.clients.dataloop import DataloopError, about, connect, entity_id, is_dataloop_uri


class PreflightError(Exception):
    """The run cannot start; the message names the flag and what to fix."""


def _check_dataloop(uri: str, flag: str, kind: str) -> None:
    try:
        dl = connect()
        with about(f"{kind} {entity_id(uri)!r}"):
            (dl.datasets.get(dataset_id=entity_id(uri)) if kind == "dataset"
             else dl.projects.get(project_id=entity_id(uri)))
    except DataloopError as error:
        raise PreflightError(f"{flag} {uri}: {error}") from None


def check_source(source: str) -> None:
    """The dataset can be read: a Dataloop dataset these credentials see, or a readable download folder."""
    if is_dataloop_uri(source):
        _check_dataloop(source, "--source", "dataset")
        return
    if storage.is_remote(source):
        return  # read by the export step with its own credentials
    folder = Path(source)
    if not folder.is_dir():
        raise PreflightError(f"--source {source}: {'not a folder' if folder.exists() else 'no such folder'}")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise PreflightError(f"--source {source}: the folder is not readable by this user")
    if not (folder / layouts.ITEM_JSON).is_dir():
        raise PreflightError(f"--source {source} is not a Dataloop download folder: it has no {layouts.ITEM_JSON}/ "
                             "folder (dataset.download(local_path, annotation_options=[JSON]) writes items/ and "
                             "json/)")


def check_registry(registry: str | None) -> None:
    """The registry can be written: a Dataloop project these credentials see, or a folder that can be made."""
    if is_dataloop_uri(registry):
        _check_dataloop(registry, "--registry", "project")
        return
    if not registry or storage.is_remote(registry):
        return
    existing = Path(registry).resolve()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise PreflightError(f"--registry {registry}: cannot create or write it ({existing} is not a writable "
                             "folder)")


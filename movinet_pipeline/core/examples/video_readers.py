"""Where Beam workers fetch the videos the export left in place (export.json's `video_source`).

- `dataloop://<dataset-id>`: each item's binary through dtlpy (`DataloopVideos`);
- a folder (`gs://...`, or local): the file under it, streamed (`FolderVideos`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from google.api_core.exceptions import GoogleAPIError

from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.clients.dataloop import ItemReader, is_dataloop_uri
from movinet_pipeline.core.layouts import ManifestEntry


class VideoReader(Protocol):
    """Copies an entry's video to a local file; OSError or DataloopError (one line) when it cannot."""

    def fetch(self, entry: ManifestEntry, target: Path) -> None:
        """Write the entry's video to `target`."""


class DataloopVideos:
    """Videos of a Dataloop dataset, by item id (one login per worker process, transient errors retried)."""

    def __init__(self, dataloop_secret: str = "") -> None:
        self.items = ItemReader(dataloop_secret)

    def fetch(self, entry: ManifestEntry, target: Path) -> None:
        """See `VideoReader.fetch`."""
        target.write_bytes(self.items.read(entry.item_id))


class FolderVideos:
    """Videos of a download folder, read in place (`<root>/<entry.video>`)."""

    def __init__(self, root: str) -> None:
        self.root = root

    def fetch(self, entry: ManifestEntry, target: Path) -> None:
        """See `VideoReader.fetch`."""
        path = storage.join(self.root, entry.video)
        try:
            storage.copy_to_local(path, target)
        except GoogleAPIError as error:
            raise OSError(f"cannot read {path}: {error}") from error


def video_reader(video_source: str, dataloop_secret: str = "") -> VideoReader | None:
    """The reader for export.json's `video_source` ("" : the videos are in the exported dataset, no reader)."""
    if not video_source:
        return None
    return DataloopVideos(dataloop_secret) if is_dataloop_uri(video_source) else FolderVideos(video_source)

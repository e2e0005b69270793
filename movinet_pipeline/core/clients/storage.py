"""Paths that may be local or remote (`gs://...`), through Apache Beam's FileSystems (so Dataflow needs no change).

Local paths use plain file I/O; anything with a scheme goes through Beam, which honours STORAGE_EMULATOR_HOST for
`gs://` when no Google credentials are found.
"""

from __future__ import annotations

import glob as local_glob
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


def beam_filesystems():
    """Beam's FileSystems; with a storage emulator configured, its GCS client connects anonymously.

    Beam looks for Google credentials with retries (about 30 s per process) before it falls back to an anonymous
    client; against an emulator there are none to find, so start from "no credentials" at once.
    """
    from apache_beam.io.filesystems import FileSystems

    if os.environ.get(EMULATOR_ENV):
        from apache_beam.internal.gcp import auth

        with auth._Credentials._credentials_lock:
            auth._Credentials._credentials_init, auth._Credentials._credentials = True, None
    return FileSystems


def is_remote(path: str | Path) -> bool:
    """Whether `path` has a scheme (gs://, dataloop://) rather than being a local path."""
    return "://" in str(path)


def join(base: str | Path, *parts: str) -> str:
    """Join path parts, locally or under a URI."""
    if not is_remote(base):
        return str(Path(base, *parts))
    return "/".join([str(base).rstrip("/"), *[part.strip("/") for part in parts]])


def open_read(path: str | Path) -> IO[bytes]:
    """Open a local or remote file for binary reading."""
    if not is_remote(path):
        return open(path, "rb")
    from apache_beam.io.filesystem import CompressionTypes

    return beam_filesystems().open(str(path), compression_type=CompressionTypes.UNCOMPRESSED)


def read_bytes(path: str | Path) -> bytes:
    """A local or remote file's bytes."""
    with open_read(path) as handle:
        return handle.read()


def read_text(path: str | Path) -> str:
    """A local or remote file's text."""
    with open_read(path) as handle:
        return handle.read().decode()


def write_text(path: str | Path, text: str) -> None:
    """Write a local or remote file (creating local parent folders)."""
    if not is_remote(path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
        return
    from apache_beam.io.filesystem import CompressionTypes

    with beam_filesystems().create(str(path), compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(text.encode())


def write_once(path: str | Path, data: bytes) -> bool:
    """Create a file that readers see whole or not at all, and never replace it; return whether this call wrote it.

    Locally: write a private temporary file beside it, then hard-link it into place (which fails if another writer
    got there first). Remotely: one object upload, which GCS makes visible only once complete.
    """
    if is_remote(path):
        if beam_filesystems().exists(str(path)):
            return False
        from apache_beam.io.filesystem import CompressionTypes

        with beam_filesystems().create(str(path), compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            handle.write(data)
        return True
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex}.tmp")
    temporary.write_bytes(data)
    try:
        os.link(temporary, target)
        return True
    except FileExistsError:
        return False
    finally:
        temporary.unlink()


def exists(path: str | Path) -> bool:
    """Whether a local or remote file exists."""
    if not is_remote(path):
        return Path(path).exists()
    return beam_filesystems().exists(str(path))


def delete(path: str | Path) -> None:
    """Delete a local or remote file."""
    if not is_remote(path):
        Path(path).unlink(missing_ok=True)
        return
    filesystems = beam_filesystems()
    if filesystems.exists(str(path)):
        filesystems.delete([str(path)])


def glob(pattern: str) -> list[str]:
    """Sorted paths matching a glob pattern."""
    if not is_remote(pattern):
        return sorted(local_glob.glob(pattern))
    matches = beam_filesystems().match([pattern])
    return sorted(metadata.path for result in matches for metadata in result.metadata_list)


@dataclass(frozen=True)
class FileInfo:
    """A listed file: its size and last update time (seconds since the epoch)."""

    size: int
    updated: float


def list_files(root: str | Path) -> dict[str, FileInfo]:
    """Every file under a local folder or a `gs://` prefix, by its path relative to `root` (with `/`)."""
    if not is_remote(root):
        folder = Path(root)
        return {path.relative_to(folder).as_posix(): FileInfo(path.stat().st_size, path.stat().st_mtime)
                for path in sorted(folder.rglob("*")) if path.is_file()}
    prefix = str(root).rstrip("/") + "/"
    (result,) = beam_filesystems().match([prefix + "**"])
    return {meta.path[len(prefix):]: FileInfo(meta.size_in_bytes, meta.last_updated_in_seconds)
            for meta in sorted(result.metadata_list, key=lambda meta: meta.path)}


def copy_to_local(path: str | Path, target: Path) -> None:
    """Copy a local or remote file to a local path, streaming (a video never needs to fit in memory)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open_read(path) as source, open(target, "wb") as handle:
        shutil.copyfileobj(source, handle, length=8 << 20)

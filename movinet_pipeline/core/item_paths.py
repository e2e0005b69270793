"""Item names are data, not paths: a Dataloop item's remote name -> a relative path that stays inside its folder.

Dataloop item names are remote paths (`/train/clip.mp4`), set by whoever uploaded them; a download folder's JSON can
say anything. A name is accepted only as plain relative POSIX parts; anything that could reach outside the folder
or mean different files on different systems is refused with a reason, and the item is dead-lettered.
"""

from __future__ import annotations

from pathlib import PurePosixPath

MAX_PART_BYTES = 255  # a file name on ext4, XFS, GCS FUSE
MAX_PATH_BYTES = 1024  # GCS object names; well under Linux's PATH_MAX


class UnsafeItemName(ValueError):
    """An item name that cannot be used as a path inside a folder; the message says why."""


def item_relative_path(name: str) -> PurePosixPath:
    """The relative path for item name `name` (its leading `/` dropped, `.` and empty parts collapsed).

    Raises UnsafeItemName for: a NUL or other control character, a backslash, a `..` part, a Windows drive,
    a part over 255 bytes or a whole name over 1024 bytes, or nothing left after collapsing.
    """
    if not isinstance(name, str):
        raise UnsafeItemName(f"item name must be a string, got {type(name).__name__}")
    if any(ord(character) < 32 or ord(character) == 127 for character in name):
        raise UnsafeItemName("item name contains a NUL or control character")
    if "\\" in name:
        raise UnsafeItemName("item name contains a backslash (a Windows path separator)")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeItemName("item name contains a '..' part, which would leave its folder")
    if parts and len(parts[0]) == 2 and parts[0][1] == ":":
        raise UnsafeItemName("item name starts with a drive letter")
    if not parts:
        raise UnsafeItemName("item name is empty")
    if any(len(part.encode()) > MAX_PART_BYTES for part in parts):
        raise UnsafeItemName(f"a part of the item name is longer than {MAX_PART_BYTES} bytes")
    if len(name.encode()) > MAX_PATH_BYTES:
        raise UnsafeItemName(f"item name is longer than {MAX_PATH_BYTES} bytes")
    return PurePosixPath(*parts)


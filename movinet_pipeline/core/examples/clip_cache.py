"""The persistent clip cache (`cache_root`): a clip's sampled JPEG frames, kept across runs, keyed by what shaped them.

A run encodes only the clips of new or changed items and reuses the stored frames of the others; the label is not
part of an entry, so a label-only change rewrites the record without decoding the video. The key of an entry is
the item's content identity (`ManifestEntry.content_id`: Dataloop item id, size and update time; a content hash for
a local folder), the clip's frame range and how many clips it yields, under a folder per sampling configuration
(`SamplingOptions.key`), so a changed sampling configuration misses cleanly. Entries are immutable and appear
whole (`storage.write_once`): concurrent runs sharing a cache never see or make a torn entry. A video that does not
decode is remembered too, so an unchanged broken item is reported without being fetched again.

Layout: `<cache_root>/clips/<sampling key>/sampling.json` and `<cache_root>/clips/<sampling key>/<ab>/<key>.clips`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.layouts import ManifestEntry

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the stored bytes or the decoding that makes them change: every entry then misses
MAGIC = b"MVNCLIP1"
SUFFIX = ".clips"


@dataclass(frozen=True)
class SamplingOptions:
    """What shapes the stored frames (and what the Beam workers need from the configuration: picklable, small)."""

    frames: int
    short_side: int
    sampling: str
    frame_step: int
    jpeg_quality: int
    train_clips_per_video: int

    @classmethod
    def from_config(cls, config: PipelineConfig) -> SamplingOptions:
        """The options a configuration implies."""
        return cls(config.frames_per_record, config.short_side, config.sampling, config.frame_step,
                   config.jpeg_quality, config.train_clips_per_video)

    @property
    def key(self) -> str:
        """The cache folder of these options (and of this cache format)."""
        digest = hashlib.sha256(json.dumps([FORMAT, asdict(self)], sort_keys=True).encode()).hexdigest()
        return f"v{FORMAT}-{digest[:16]}"

    def clips_per_video(self, subset: str) -> int:
        """Temporal clips taken from one entry: several in train with stride sampling, else one."""
        return self.train_clips_per_video if subset == "train" else 1


@dataclass(frozen=True)
class StoredClip:
    """One clip's sampled frames (JPEG), their source frame numbers and the decoder's frame rate."""

    jpeg_frames: list[bytes]
    frame_indices: list[int]
    fps: float


@dataclass(frozen=True)
class CacheEntry:
    """What the cache holds for one manifest entry: its clips, or why its video did not decode."""

    clips: list[StoredClip]
    error: str = ""


class ClipCache:
    """The entries under one `cache_root` for one sampling configuration."""

    def __init__(self, root: str, sampling: SamplingOptions) -> None:
        self.root, self.sampling = root, sampling
        self.folder = storage.join(root, "clips", sampling.key)

    def key(self, entry: ManifestEntry) -> str | None:
        """The entry's key; None when it has no content identity (then it is never cached)."""
        if not entry.content_id:
            return None
        parts = [entry.content_id, entry.start_frame, entry.end_frame, self.sampling.clips_per_video(entry.subset)]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def path(self, entry: ManifestEntry) -> str | None:
        """Where the entry's clips are (or would be) stored."""
        key = self.key(entry)
        return storage.join(self.folder, key[:2], key + SUFFIX) if key else None

    def stored_keys(self) -> set[str]:
        """The keys stored, from one listing of the cache folder (not a request per entry)."""
        return {PurePosixPath(path).stem for path in storage.glob(storage.join(self.folder, "*", "*" + SUFFIX))}

    def missing(self, entries: list[ManifestEntry], stored: set[str] | None = None) -> list[ManifestEntry]:
        """The entries not stored (among `stored` keys when given, else a fresh listing)."""
        stored = self.stored_keys() if stored is None else stored
        return [entry for entry in entries if self.key(entry) not in stored]

    def load(self, entry: ManifestEntry) -> CacheEntry | None:
        """The stored entry, or None on a miss; a damaged entry is a miss (and is said so)."""
        path = self.path(entry)
        if not path or not storage.exists(path):
            return None
        try:
            return decode_entry(storage.read_bytes(path))
        except (ValueError, KeyError, struct.error) as error:
            log.warning("ignoring damaged clip cache entry %s (%s): the clip is encoded again", path, error)
            return None

    def store(self, entry: ManifestEntry, stored: CacheEntry) -> None:
        """Store the entry unless another run already did (entries never change)."""
        path = self.path(entry)
        if path:
            storage.write_once(path, encode_entry(stored))

    def describe(self) -> None:
        """Write `sampling.json` (the options behind this folder) once, for people looking at the cache."""
        storage.write_once(storage.join(self.folder, "sampling.json"),
                           (json.dumps({"format": FORMAT, **asdict(self.sampling)}, indent=2) + "\n").encode())


def encode_entry(entry: CacheEntry) -> bytes:
    """MAGIC, header length, header (JSON: per clip its frame numbers, fps and JPEG sizes), JPEGs, SHA-256."""
    header = {"error": entry.error, "clips": [{"frame_indices": clip.frame_indices, "fps": clip.fps,
                                               "sizes": [len(jpeg) for jpeg in clip.jpeg_frames]}
                                              for clip in entry.clips]}
    header_bytes = json.dumps(header, sort_keys=True).encode()
    body = MAGIC + struct.pack("<I", len(header_bytes)) + header_bytes + b"".join(
        jpeg for clip in entry.clips for jpeg in clip.jpeg_frames)
    return body + hashlib.sha256(body).digest()


def decode_entry(data: bytes) -> CacheEntry:
    """Inverse of `encode_entry`; ValueError when the bytes are not a whole entry."""
    body, digest = data[:-32], data[-32:]
    if not body.startswith(MAGIC) or hashlib.sha256(body).digest() != digest:
        raise ValueError("not a whole clip cache entry (bad magic or checksum)")
    (header_length,) = struct.unpack_from("<I", body, len(MAGIC))
    offset = len(MAGIC) + 4
    header = json.loads(body[offset:offset + header_length])
    offset += header_length
    clips = []
    for clip in header["clips"]:
        frames = []
        for size in clip["sizes"]:
            frames.append(body[offset:offset + size])
            offset += size
        clips.append(StoredClip(frames, clip["frame_indices"], clip["fps"]))
    if offset != len(body):
        raise ValueError("clip cache entry has trailing bytes")
    return CacheEntry(clips, header["error"])

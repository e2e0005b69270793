"""The Beam graph from manifest entries to TFRecord shards, as one composite PTransform (`BuildExamples`).

Workers decode, sample and encode each clip (`EncodeClip`), write each subset's shards (`WriteSubset`), one JSON
line of stats per clip and one per dead letter. The workers import no TensorFlow (records are plain protobuf).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import apache_beam as beam

from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.clients.dataloop import DataloopError
from movinet_pipeline.core.examples.clip_cache import CacheEntry, ClipCache, SamplingOptions, StoredClip
from movinet_pipeline.core.examples.progress import mark_done
from movinet_pipeline.core.examples.video_readers import VideoReader
from movinet_pipeline.core.layouts import ErrorEntry, ManifestEntry
from movinet_pipeline.core.media.records import ClipRecord, serialize_clip
from movinet_pipeline.core.media.video import VideoDecodeError, read_clips

STEP = "build_tfrecords"
ERRORS_TAG = "errors"


@dataclass(frozen=True)
class ClipStats:
    """One written clip, for `stats.json`."""

    subset: str
    label: str
    frames: int
    bytes: int
    reused: bool = False  # from the clip cache, not decoded


class EncodeClip(beam.DoFn):
    """Manifest entry -> (subset, serialized SequenceExample, stats) per clip; failures go to `errors`.

    With a clip cache, an entry whose video content and frame range were encoded before under the same sampling
    options reuses the stored frames (no video read, no decode); a new one is stored after encoding. With an item
    `reader` (the export left the videos in Dataloop or in their folder), the worker fetches each video it
    needs itself.
    """

    def __init__(self, root: str, labels: Sequence[str], options: SamplingOptions,
                 progress_folder: str | None = None, cache: ClipCache | None = None,
                 reader: VideoReader | None = None) -> None:
        self.dataset = layouts.ExportedDataset(root)
        self.label_index = {label: i for i, label in enumerate(labels)}
        self.options = options
        self.progress_folder = progress_folder
        self.cache, self.reader = cache, reader

    def setup(self) -> None:
        """Per worker: anonymous GCS when an emulator is configured."""
        storage.beam_filesystems()  # each worker process: anonymous GCS when an emulator is configured

    def process(self, entry: ManifestEntry) -> Iterator:
        """Encode one entry's clips (or dead-letter it) and count it as done."""
        yield from self._encode(entry)
        mark_done(self.progress_folder)

    def _encode(self, entry: ManifestEntry) -> Iterator:
        stored = self.cache.load(entry) if self.cache else None
        reused = stored is not None
        if stored is None:
            try:
                stored = self._decode(entry)
            except (OSError, ValueError, DataloopError) as error:  # may differ next time: not remembered
                yield self._dead_letter(entry, f"{type(error).__name__}: {error}")
                return
            if self.cache:
                self.cache.store(entry, stored)
        if stored.error:
            yield self._dead_letter(entry, stored.error + (" (remembered by the clip cache: the video is unchanged)"
                                                          if reused else ""))
            return
        for clip in stored.clips:
            record = ClipRecord(jpeg_frames=clip.jpeg_frames, label_index=self.label_index[entry.label],
                                label_text=entry.label, media_id=entry.item_id, frame_indices=clip.frame_indices,
                                source_fps=clip.fps or entry.fps or 0.0)
            serialized = serialize_clip(record)
            yield entry.subset, serialized, ClipStats(entry.subset, entry.label, len(clip.jpeg_frames),
                                                      len(serialized), reused)

    def _decode(self, entry: ManifestEntry) -> CacheEntry:
        """Read and sample the entry's clips from its video; a video that does not decode is an entry's error."""
        with self._video(entry) as path:
            try:
                clips = read_clips(path, entry.start_frame, entry.end_frame, self.options.frames,
                                   self.options.short_side, self.options.sampling, self.options.frame_step,
                                   self.options.clips_per_video(entry.subset), jpeg_quality=self.options.jpeg_quality)
            except VideoDecodeError as error:
                return CacheEntry([], f"VideoDecodeError: {error}")
        return CacheEntry([StoredClip(clip.frames, clip.frame_indices, clip.fps) for clip in clips])

    @contextlib.contextmanager
    def _video(self, entry: ManifestEntry) -> Iterator[str]:
        """The entry's video: in the exported dataset, or fetched by the reader into a temporary file."""
        path = self.dataset.video(entry.video)
        if self.reader is None:
            yield path
            return
        with tempfile.NamedTemporaryFile(suffix=PurePosixPath(entry.video).suffix) as local:
            self.reader.fetch(entry, Path(local.name))
            yield local.name

    @staticmethod
    def _dead_letter(entry: ManifestEntry, reason: str) -> beam.pvalue.TaggedOutput:
        return beam.pvalue.TaggedOutput(ERRORS_TAG, ErrorEntry(item=entry.video, reason=reason, step=STEP))


class WriteSubset(beam.PTransform):
    """Write one subset's records as `<output>/<subset>/clips-SSSSS-of-NNNNN.tfrecord`."""

    def __init__(self, examples: layouts.Examples, subset: str, num_shards: int) -> None:
        super().__init__(label=f"Write {subset}")
        self.examples, self.subset, self.num_shards = examples, subset, num_shards

    def expand(self, records):  # type: ignore[override]
        """Keep this subset's records and write them as shards."""
        return (
            records
            | "Keep subset" >> beam.Filter(lambda record, subset: record[0] == subset, self.subset)
            | "Serialized" >> beam.Map(lambda record: record[1])
            | "Write" >> beam.io.WriteToTFRecord(self.examples.shard_prefix(self.subset),
                                                 file_name_suffix=layouts.RECORD_SUFFIX, num_shards=self.num_shards)
        )


@dataclass(frozen=True)
class SideFiles:
    """Where the job writes its per-clip stats and dead letters (JSON lines), read back by the driver."""

    stats: str
    errors: str


class BuildExamples(beam.PTransform):
    """Manifest entries -> TFRecord shards per subset, a stats line per clip and an error line per dead letter.

    The input is a PCollection of `ManifestEntry`; a Reshuffle spreads the decoding over the workers (it breaks the
    fusion with the listing). Returns the dict of PCollections written: `records` (subset, bytes, ClipStats) and
    `errors` (ErrorEntry), for tests to assert on.
    """

    def __init__(self, dataset_root: str, examples: layouts.Examples, labels: Sequence[str], subsets: Sequence[str],
                 sampling: SamplingOptions, num_shards: int, side_files: SideFiles,
                 progress_folder: str | None = None, cache: ClipCache | None = None,
                 reader: VideoReader | None = None) -> None:
        super().__init__(label="Build examples")
        self.dataset_root, self.examples, self.labels, self.subsets = dataset_root, examples, labels, subsets
        self.sampling, self.num_shards, self.side_files = sampling, num_shards, side_files
        self.progress_folder, self.cache, self.reader = progress_folder, cache, reader

    def expand(self, entries):  # type: ignore[override]
        """Spread, encode and write the entries."""
        results = (
            entries
            | "Spread work" >> beam.Reshuffle()
            | "Decode, sample, encode" >> beam.ParDo(EncodeClip(self.dataset_root, self.labels, self.sampling,
                                                                 self.progress_folder, self.cache, self.reader))
            .with_outputs(ERRORS_TAG, main="records")
        )
        for subset in sorted(self.subsets):
            _ = results.records | WriteSubset(self.examples, subset, self.num_shards)
        _ = (results.records | "Stats" >> beam.Map(lambda record: json.dumps(asdict(record[2])))
             | "Write stats" >> beam.io.WriteToText(self.side_files.stats, shard_name_template=""))
        _ = (results[ERRORS_TAG] | "Errors" >> beam.Map(lambda error: json.dumps(asdict(error), sort_keys=True))
             | "Write errors" >> beam.io.WriteToText(self.side_files.errors, shard_name_template=""))
        return {"records": results.records, "errors": results[ERRORS_TAG]}

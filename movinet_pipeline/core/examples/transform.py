"""The Beam graph from manifest entries to TFRecord shards, as one composite PTransform (`BuildExamples`).

Workers decode, sample and encode each clip (`EncodeClip`), write each subset's shards (`WriteSubset`), one JSON
line of stats per clip and one per dead letter. The workers import no TensorFlow (records are plain protobuf).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import apache_beam as beam

from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.examples.progress import mark_done
from movinet_pipeline.core.layouts import ErrorEntry, ManifestEntry
from movinet_pipeline.core.media.records import ClipRecord, serialize_clip
from movinet_pipeline.core.media.video import VideoDecodeError, read_clips

STEP = "build_tfrecords"
ERRORS_TAG = "errors"


@dataclass(frozen=True)
class SamplingOptions:
    """What the workers need from the configuration (picklable, small)."""

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


@dataclass(frozen=True)
class ClipStats:
    """One written clip, for `stats.json`."""

    subset: str
    label: str
    frames: int
    bytes: int


class EncodeClip(beam.DoFn):
    """Manifest entry -> (subset, serialized SequenceExample, stats) per clip; failures go to `errors`."""

    def __init__(self, root: str, labels: Sequence[str], options: SamplingOptions,
                 progress_folder: str | None = None) -> None:
        self.dataset = layouts.ExportedDataset(root)
        self.label_index = {label: i for i, label in enumerate(labels)}
        self.options = options
        self.progress_folder = progress_folder

    def setup(self) -> None:
        """Per worker: anonymous GCS when an emulator is configured."""
        storage.beam_filesystems()  # each worker process: anonymous GCS when an emulator is configured

    def process(self, entry: ManifestEntry) -> Iterator:
        """Encode one entry's clips (or dead-letter it) and count it as done."""
        yield from self._encode(entry)
        mark_done(self.progress_folder)

    def _encode(self, entry: ManifestEntry) -> Iterator:
        clips_per_video = self.options.train_clips_per_video if entry.subset == "train" else 1
        try:
            clips = read_clips(self.dataset.video(entry.video), entry.start_frame, entry.end_frame,
                               self.options.frames, self.options.short_side, self.options.sampling,
                               self.options.frame_step, clips_per_video, jpeg_quality=self.options.jpeg_quality)
        except (VideoDecodeError, OSError, ValueError) as error:
            reason = f"{type(error).__name__}: {error}"
            yield beam.pvalue.TaggedOutput(ERRORS_TAG, ErrorEntry(item=entry.video, reason=reason, step=STEP))
            return
        for clip in clips:
            record = ClipRecord(jpeg_frames=clip.frames, label_index=self.label_index[entry.label],
                                label_text=entry.label, media_id=entry.item_id, frame_indices=clip.frame_indices,
                                source_fps=clip.fps or entry.fps or 0.0)
            serialized = serialize_clip(record)
            yield entry.subset, serialized, ClipStats(entry.subset, entry.label, len(clip.frames), len(serialized))


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
                 progress_folder: str | None = None) -> None:
        super().__init__(label="Build examples")
        self.dataset_root, self.examples, self.labels, self.subsets = dataset_root, examples, labels, subsets
        self.sampling, self.num_shards, self.side_files = sampling, num_shards, side_files
        self.progress_folder = progress_folder

    def expand(self, entries):  # type: ignore[override]
        """Spread, encode and write the entries."""
        results = (
            entries
            | "Spread work" >> beam.Reshuffle()
            | "Decode, sample, encode" >> beam.ParDo(EncodeClip(self.dataset_root, self.labels, self.sampling,
                                                                 self.progress_folder))
            .with_outputs(ERRORS_TAG, main="records")
        )
        for subset in sorted(self.subsets):
            _ = results.records | WriteSubset(self.examples, subset, self.num_shards)
        _ = (results.records | "Stats" >> beam.Map(lambda record: json.dumps(asdict(record[2])))
             | "Write stats" >> beam.io.WriteToText(self.side_files.stats, shard_name_template=""))
        _ = (results[ERRORS_TAG] | "Errors" >> beam.Map(lambda error: json.dumps(asdict(error), sort_keys=True))
             | "Write errors" >> beam.io.WriteToText(self.side_files.errors, shard_name_template=""))
        return {"records": results.records, "errors": results[ERRORS_TAG]}

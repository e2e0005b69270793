"""build_tfrecords logic: an Apache Beam pipeline from the exported dataset to sharded SequenceExample TFRecords.

Small DoFns composed into named PTransforms; `run(argv)` takes standard Beam options, so
`--runner=DataflowRunner --project=... --region=... --temp_location=gs://...` needs no code change. The workers
import no TensorFlow (records are built with plain protobuf).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from components.build_tfrecords.contact_sheet import CONTACT_SHEET, render_contact_sheet
from components.build_tfrecords.progress import JobProgress, mark_done
from movinet_pipeline import contracts, storage
from movinet_pipeline.config import PipelineConfig
from movinet_pipeline.contracts import ErrorEntry, ManifestEntry
from movinet_pipeline.records import RECORD_SUFFIX, ClipRecord, serialize_clip
from movinet_pipeline.video import VideoDecodeError, read_clips

log = logging.getLogger(__name__)
STEP = "build_tfrecords"
ERRORS_TAG = "errors"


class BuildError(RuntimeError):
    """The step cannot produce usable examples."""


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
    def from_config(cls, config: PipelineConfig) -> "SamplingOptions":
        return cls(config.frames_per_record, config.short_side, config.sampling, config.frame_step,
                   config.jpeg_quality, config.train_clips_per_video)


@dataclass(frozen=True)
class ClipStats:
    subset: str
    label: str
    frames: int
    bytes: int


class EncodeClip(beam.DoFn):
    """Manifest entry -> (subset, serialized SequenceExample, stats) per clip; failures go to `errors`."""

    def __init__(self, root: str, labels: Sequence[str], options: SamplingOptions,
                 progress_folder: str | None = None) -> None:
        self.root = root
        self.label_index = {label: i for i, label in enumerate(labels)}
        self.options = options
        self.progress_folder = progress_folder

    def process(self, entry: ManifestEntry) -> Iterator:
        yield from self._encode(entry)
        mark_done(self.progress_folder)

    def setup(self) -> None:
        storage.beam_filesystems()  # each worker process: anonymous GCS when an emulator is configured

    def _encode(self, entry: ManifestEntry) -> Iterator:
        path = storage.join(self.root, entry.video)
        clips_per_video = self.options.train_clips_per_video if entry.subset == "train" else 1
        try:
            clips = read_clips(path, entry.start_frame, entry.end_frame, self.options.frames,
                               self.options.short_side, self.options.sampling, self.options.frame_step,
                               clips_per_video, jpeg_quality=self.options.jpeg_quality)
        except (VideoDecodeError, OSError, ValueError) as error:
            reason = f"{type(error).__name__}: {error}"
            yield beam.pvalue.TaggedOutput(ERRORS_TAG, ErrorEntry(item=entry.video, reason=reason, step=STEP))
            return
        for clip in clips:
            record = ClipRecord(
                jpeg_frames=clip.frames,
                label_index=self.label_index[entry.label],
                label_text=entry.label,
                media_id=entry.item_id,
                frame_indices=clip.frame_indices,
                source_fps=clip.fps or entry.fps or 0.0,
            )
            serialized = serialize_clip(record)
            yield entry.subset, serialized, ClipStats(entry.subset, entry.label, len(clip.frames), len(serialized))


class WriteSubset(beam.PTransform):
    """Write one subset's records as `<output>/<subset>/clips-SSSSS-of-NNNNN.tfrecord`."""

    def __init__(self, output: str, subset: str, num_shards: int) -> None:
        super().__init__(label=f"Write {subset}")
        self.output, self.subset, self.num_shards = output, subset, num_shards

    def expand(self, records):  # type: ignore[override]
        return (
            records
            | "Keep subset" >> beam.Filter(lambda record, subset: record[0] == subset, self.subset)
            | "Serialized" >> beam.Map(lambda record: record[1])
            | "Write" >> beam.io.WriteToTFRecord(
                storage.join(self.output, self.subset, "clips"),
                file_name_suffix=RECORD_SUFFIX,
                num_shards=self.num_shards,
            )
        )


def _write_json(path: str, value: object) -> None:
    storage.write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def local_runner_options(argv: Sequence[str]) -> PipelineOptions:
    """Beam options from argv; with no --runner, the FnApiRunner in multi-processing mode on every core.

    Beam 2.77's DirectRunner would first try to download the Prism runner; choosing the local runner
    explicitly keeps runs offline-safe and makes the parallelism visible.
    """
    options = PipelineOptions(list(argv))
    if options.view_as(StandardOptions).runner is None:
        direct = options.view_as(DirectOptions)
        given = " ".join(argv)
        if "direct_running_mode" not in given:
            direct.direct_running_mode = "multi_processing"
        if "direct_num_workers" not in given:
            direct.direct_num_workers = os.cpu_count() or 1
        log.info("Beam: local FnApiRunner, %s mode, %d workers", direct.direct_running_mode,
                 direct.direct_num_workers)
    return options


LOCAL_RUNNERS = {None, "DirectRunner", "FnApiRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner",
                 "PrismRunner"}


def runs_locally(options: PipelineOptions) -> bool:
    """Whether the job's workers run on this machine (and see its files)."""
    return options.view_as(StandardOptions).runner in LOCAL_RUNNERS


def artifact_location(path: str, uri: str, beam_args: Sequence[str]) -> str:
    """Where the Beam job reads or writes a KFP artifact: its local `path` (where KFP mounts the artifact store) for
    a local runner; its `gs://` `uri` for a remote one, whose workers cannot see this step's mounts."""
    options = PipelineOptions(list(beam_args))
    if runs_locally(options):
        return path
    runner = options.view_as(StandardOptions).runner
    if not uri.startswith("gs://"):
        raise BuildError(f"the {runner} workers cannot reach the artifact {uri}: run the pipeline with a "
                         "gs:// pipeline root")
    return uri


def _runner(options: PipelineOptions):
    if options.view_as(StandardOptions).runner is None:
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    return None


def build_tfrecords(input_dir: str | Path, output_dir: str | Path, config: PipelineConfig,
                    beam_args: Sequence[str] = ()) -> dict:
    """Run the Beam pipeline; return the stats written to `stats.json`."""
    input_dir, output_dir = str(input_dir), str(output_dir)
    labels = contracts.read_labels(input_dir)
    entries = list(contracts.read_manifest(input_dir))
    if not entries:
        raise BuildError(f"{input_dir}/{contracts.MANIFEST} lists no clip")
    subsets = sorted({entry.subset for entry in entries})
    storage.beam_filesystems()
    options = local_runner_options(beam_args)
    sampling = SamplingOptions.from_config(config)
    log.info("building TFRecords for %d clips (%s): %d frames/clip, short side %d, %s sampling",
             len(entries), ", ".join(subsets), sampling.frames, sampling.short_side, sampling.sampling)
    stats_path = storage.join(output_dir, "clip_stats")
    errors_path = storage.join(output_dir, "errors_part")
    with JobProgress(len(entries), runs_locally(options)) as progress, beam.Pipeline(runner=_runner(options), options=options) as job:
        add_build_steps(job, entries, input_dir, output_dir, labels, sampling, config.num_shards, stats_path,
                        errors_path, progress.folder)
    return _summarize(input_dir, output_dir, labels, stats_path, errors_path)


def add_build_steps(pipeline: beam.Pipeline, entries: list[ManifestEntry], input_dir: str, output_dir: str,
                    labels: Sequence[str], sampling: SamplingOptions, num_shards: int, stats_path: str,
                    errors_path: str, progress_folder: str | None = None) -> None:
    """The job's graph: decode, sample and encode every clip on the workers; write each subset's shards, the
    per-clip stats and the errors. `progress_folder`: where local workers count finished entries (progress.py)."""
    results = (
        pipeline
        | "Manifest" >> beam.Create(entries)
        | "Spread work" >> beam.Reshuffle()
        | "Decode, sample, encode" >> beam.ParDo(EncodeClip(input_dir, labels, sampling, progress_folder))
        .with_outputs(ERRORS_TAG, main="records")
    )
    for subset in sorted({entry.subset for entry in entries}):
        _ = results.records | WriteSubset(output_dir, subset, num_shards)
    _ = (results.records | "Stats" >> beam.Map(lambda record: json.dumps(asdict(record[2])))
         | "Write stats" >> beam.io.WriteToText(stats_path, shard_name_template=""))
    _ = (results[ERRORS_TAG] | "Errors" >> beam.Map(lambda error: json.dumps(asdict(error), sort_keys=True))
         | "Write errors" >> beam.io.WriteToText(errors_path, shard_name_template=""))


def _read_lines(path: str) -> list[str]:
    if not storage.exists(path):
        return []
    lines = [line for line in storage.read_text(path).splitlines() if line.strip()]
    storage.delete(path)
    return lines


def _summarize(input_dir: str, output_dir: str, labels: list[str], stats_path: str, errors_path: str) -> dict:
    clip_stats = [ClipStats(**json.loads(line)) for line in _read_lines(stats_path)]
    errors = [ErrorEntry(**json.loads(line)) for line in _read_lines(errors_path)]
    upstream = contracts.read_errors(storage.join(input_dir, contracts.ERRORS))
    contracts.write_jsonl(storage.join(output_dir, contracts.ERRORS), upstream + errors)
    contracts.write_labels(output_dir, labels)
    stats = {
        "clips": len(clip_stats),
        "clips_per_subset_label": _count(clip_stats),
        "frames": sum(s.frames for s in clip_stats),
        "bytes": sum(s.bytes for s in clip_stats),
        "skipped": len(errors),
        "skipped_reasons": [asdict(e) for e in errors],
    }
    _write_json(storage.join(output_dir, contracts.STATS), stats)
    if clip_stats:
        subset = "train" if "train" in stats["clips_per_subset_label"] else next(iter(stats["clips_per_subset_label"]))
        storage.write_text(storage.join(output_dir, CONTACT_SHEET), render_contact_sheet(output_dir, subset))
    for error in errors:
        log.warning("skipped %s: %s", error.item, error.reason)
    if not clip_stats:
        raise BuildError(f"every clip failed ({len(errors)}); first reasons: "
                         + "; ".join(f"{e.item}: {e.reason}" for e in errors[:3]))
    log.info("wrote %d clips (%d frames, %.1f MB), skipped %d -> %s", stats["clips"], stats["frames"],
             stats["bytes"] / 1e6, len(errors), output_dir)
    return stats


def _count(clip_stats: Iterable[ClipStats]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for stat in clip_stats:
        per_label = counts.setdefault(stat.subset, {})
        per_label[stat.label] = per_label.get(stat.label, 0) + 1
    return counts

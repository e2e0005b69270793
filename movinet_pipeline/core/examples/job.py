"""Run the examples job (`BuildExamples`) on a Beam runner and summarise what it wrote (`stats.json`).

`build_examples(...)` takes standard Beam options, so `--runner=DataflowRunner --project=... --region=...
--temp_location=gs://...` needs no code change; with no `--runner`, the local FnApiRunner runs in multi-processing
mode on every core.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.examples.clip_cache import ClipCache, SamplingOptions
from movinet_pipeline.core.examples.progress import JobProgress
from movinet_pipeline.core.examples.transform import BuildExamples, ClipStats, SideFiles
from movinet_pipeline.core.examples.video_readers import video_reader
from movinet_pipeline.core.layouts import ErrorEntry

log = logging.getLogger(__name__)
IN_PROCESS_MAX = 8  # entries to decode up to which a local job runs in one process (worker start-up costs ~1.5 s)
LOCAL_RUNNERS = {None, "DirectRunner", "FnApiRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner",
                 "PrismRunner"}


class BuildError(RuntimeError):
    """The job cannot produce usable examples."""


def local_runner_options(argv: Sequence[str], videos_to_decode: int | None = None) -> PipelineOptions:
    """Beam options from argv; with no --runner, the FnApiRunner in multi-processing mode on every core.

    Beam 2.77's DirectRunner would first try to download the Prism runner; choosing the local runner
    explicitly keeps runs offline-safe and makes the parallelism visible. When at most `IN_PROCESS_MAX` entries
    need decoding (the rest come from the clip cache), the job runs in this process: starting worker processes
    would cost more than they save.
    """
    options = PipelineOptions(list(argv))
    if options.view_as(StandardOptions).runner is None:
        direct = options.view_as(DirectOptions)
        given = " ".join(argv)
        in_process = videos_to_decode is not None and videos_to_decode <= IN_PROCESS_MAX
        if "direct_running_mode" not in given:
            direct.direct_running_mode = "in_memory" if in_process else "multi_processing"
        if "direct_num_workers" not in given:
            direct.direct_num_workers = 1 if in_process else os.cpu_count() or 1
        log.info("Beam: local FnApiRunner, %s mode, %d workers%s", direct.direct_running_mode,
                 direct.direct_num_workers, f" ({videos_to_decode} entries to decode)" if in_process else "")
    return options


def runs_locally(options: PipelineOptions) -> bool:
    """Whether the job's workers run on this machine (and see its files)."""
    return options.view_as(StandardOptions).runner in LOCAL_RUNNERS


def artifact_location(path: str, uri: str, beam_args: Sequence[str]) -> str:
    """Where the job reads or writes a KFP artifact.

    Where the job reads or writes a KFP artifact: its local `path` (where KFP mounts the artifact store) for a
    local runner; its `gs://` `uri` for a remote one, whose workers cannot see this step's mounts.
    """
    options = PipelineOptions(list(beam_args))
    if runs_locally(options):
        return path
    runner = options.view_as(StandardOptions).runner
    if not uri.startswith("gs://"):
        raise BuildError(f"the {runner} workers cannot reach the artifact {uri}: run the pipeline with a "
                         "gs:// pipeline root")
    return uri


def local_runner(options: PipelineOptions):
    """The FnApiRunner when no runner is named (see `local_runner_options`), else None (Beam's choice)."""
    if options.view_as(StandardOptions).runner is None:
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    return None


def clip_cache(cache_root: str, sampling: SamplingOptions, options: PipelineOptions) -> ClipCache | None:
    """The clip cache under `cache_root` for these sampling options (None without a root); remote workers need gs://."""
    if not cache_root:
        return None
    if not runs_locally(options) and not storage.is_remote(cache_root):
        raise BuildError(f"the {options.view_as(StandardOptions).runner} workers cannot reach cache_root="
                         f"{cache_root!r}: give a gs:// location")
    cache = ClipCache(cache_root, sampling)
    cache.describe()
    log.info("clip cache: %s", cache.folder)
    return cache


def build_examples(input_dir: str | Path, output_dir: str | Path, config: PipelineConfig,
                   beam_args: Sequence[str] = (), dataloop_secret: str = "") -> dict:
    """Run the job from the exported dataset in `input_dir` to examples in `output_dir`; return `stats.json`.

    When the export left the videos in Dataloop or in their folder (export.json's `video_source`), the workers fetch
    them; from Dataloop, with credentials read as a step does (`dataloop_secret`: the Secret Manager secret, when
    their environment has none).
    """
    dataset, examples = layouts.ExportedDataset(str(input_dir)), layouts.Examples(str(output_dir))
    labels = layouts.read_labels(dataset.root)
    entries = list(layouts.read_manifest(dataset.root))
    if not entries:
        raise BuildError(f"{dataset.manifest} lists no clip")
    subsets = sorted({entry.subset for entry in entries})
    storage.beam_filesystems()
    sampling = SamplingOptions.from_config(config)
    log.info("building TFRecords for %d clips (%s): %d frames/clip, short side %d, %s sampling",
             len(entries), ", ".join(subsets), sampling.frames, sampling.short_side, sampling.sampling)
    cache = clip_cache(config.cache_root, sampling, PipelineOptions(list(beam_args)))
    to_decode = len(cache.missing(entries)) if cache else len(entries)
    if cache:
        log.info("clip cache: %d of %d entries to decode, the others' clips are reused", to_decode, len(entries))
        unidentified = sum(not entry.content_id for entry in entries)
        if unidentified:
            log.warning("clip cache: %d of %d entries carry no content identity (the export of %s ran without a "
                        "cache_root), so they are encoded and never cached; export with the same cache_root and "
                        "sampling keys to reuse their clips", unidentified, len(entries), dataset.root)
    options = local_runner_options(beam_args, to_decode)
    video_source = layouts.read_export_info(dataset.root).get("video_source", "")
    reader = video_reader(video_source, dataloop_secret)
    if reader:
        log.info("the workers fetch the videos they decode from %s", video_source)
    side_files = SideFiles(storage.join(examples.root, "clip_stats"), storage.join(examples.root, "errors_part"))
    with JobProgress(len(entries), runs_locally(options)) as progress, \
            beam.Pipeline(runner=local_runner(options), options=options) as job:
        _ = (job | "Manifest" >> beam.Create(entries)
             | BuildExamples(dataset.root, examples, labels, subsets, sampling, config.num_shards, side_files,
                             progress.folder, cache, reader))
    stats = _summarize(dataset, examples, labels, side_files, len(entries))
    check_loss_budget(stats, labels, config.max_skipped_fraction)
    return stats


def _read_lines(path: str) -> list[str]:
    if not storage.exists(path):
        return []
    lines = [line for line in storage.read_text(path).splitlines() if line.strip()]
    storage.delete(path)
    return lines


def _summarize(dataset: layouts.ExportedDataset, examples: layouts.Examples, labels: list[str],
               side_files: SideFiles, manifest_entries: int) -> dict:
    clip_stats = [ClipStats(**json.loads(line)) for line in _read_lines(side_files.stats)]
    errors = [ErrorEntry(**json.loads(line)) for line in _read_lines(side_files.errors)]
    upstream = layouts.read_errors(dataset.errors)
    layouts.write_jsonl(examples.errors, upstream + errors)
    layouts.write_labels(examples.root, labels)
    lost = [error for error in upstream + errors if error.lost]
    attempted = manifest_entries + sum(error.lost for error in upstream)
    reused = sum(stat.reused for stat in clip_stats)
    export_info = layouts.read_export_info(dataset.root)
    stats = {
        "clips": len(clip_stats),
        "clips_encoded": len(clip_stats) - reused,
        "clips_reused": reused,
        "clips_per_subset_label": _count(clip_stats),
        "frames": sum(s.frames for s in clip_stats),
        "bytes": sum(s.bytes for s in clip_stats),
        "skipped": len(errors),
        "skipped_reasons": [asdict(e) for e in errors],
        "lost": len(lost),
        "lost_fraction": len(lost) / attempted if attempted else 0.0,
        "lost_items": [asdict(e) for e in lost],
        "model_annotations_excluded": export_info.get("model_annotations_excluded", 0),
        "dataset": {key: export_info.get(key, "") for key in ("source", "dataset_id", "export_fingerprint")},
    }
    storage.write_text(examples.stats, json.dumps(stats, indent=2, sort_keys=True) + "\n")
    for error in errors:
        log.warning("skipped %s: %s", error.item, error.reason)
    if not clip_stats:
        raise BuildError(f"every clip failed ({len(errors)}); first reasons: "
                         + "; ".join(f"{e.item}: {e.reason}" for e in errors[:3]))
    log.info("wrote %d clips (%d encoded, %d reused from the clip cache; %d frames, %.1f MB), skipped %d -> %s",
             stats["clips"], stats["clips_encoded"], reused, stats["frames"], stats["bytes"] / 1e6, len(errors),
             examples.root)
    return stats


def check_loss_budget(stats: dict, labels: list[str], max_fraction: float) -> None:
    """Fail when more than `max_fraction` of the labelled data was lost, or a label lost train or validation."""
    lost, fraction = stats["lost"], stats["lost_fraction"]
    if fraction > max_fraction:
        reasons = "; ".join(f"{e['item']}: {e['reason']}" for e in stats["lost_items"][:3])
        raise BuildError(f"lost {lost} labelled item(s) or clip(s), {fraction:.1%} of them, over the loss budget "
                         f"max_skipped_fraction={max_fraction:.1%} (first: {reasons}); fix them (errors.jsonl lists "
                         "all) or raise max_skipped_fraction")
    per_subset = stats["clips_per_subset_label"]
    missing = [f"{label!r} has no {subset} clip" for label in labels for subset in ("train", "validation")
               if not per_subset.get(subset, {}).get(label)]
    if missing:
        raise BuildError("every label needs clips in train and validation after decoding: " + ", ".join(missing)
                         + " (see errors.jsonl)")
    if lost:
        log.warning("lost %d labelled item(s) or clip(s) (%.1f%%, within max_skipped_fraction %.1f%%); listed in "
                    "errors.jsonl", lost, 100 * fraction, 100 * max_fraction)


def _count(clip_stats: Iterable[ClipStats]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for stat in clip_stats:
        per_label = counts.setdefault(stat.subset, {})
        per_label[stat.label] = per_label.get(stat.label, 0) + 1
    return counts

"""Export + TFRecords with a clip cache: a first run, then a run after 2 changed items, side by side in one run.

    python benchmarks/incremental_examples.py [--source folder|dataloop|both] [--per-class 40] [--out DIR]

The dataset: 4 labels x (per-class train + per-class/4 validation) short generated videos (200 by default; 5 s,
640x352, 24 fps, H.264), the default configuration's sampling (26 frames, short side 256, JPEG 90). The sources:
`folder` is a Dataloop download folder (content identity: SHA-256 of each video), `dataloop` is the same videos
in the project's Dataloop emulator through the real dtlpy over HTTP (identity: item id, size, update time; the
export downloads only videos with an uncached clip). Between the runs one item is relabelled and one video's bytes
are replaced. Each run exports into a fresh folder and builds with the local Beam runner on every core. Prints the
seconds of each stage and the ratio of the second run to the first (the target is at most 1/10).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tests.dataloop_emulator`, from a checkout

from movinet_pipeline.core.config import PipelineConfig  # noqa: E402
from movinet_pipeline.core.examples.clip_cache import ClipCache, SamplingOptions  # noqa: E402
from movinet_pipeline.core.examples.job import build_examples  # noqa: E402
from movinet_pipeline.core.media.sample_data import SampleSpec, generate_sample_dataset  # noqa: E402


def timed(step, *args, **kwargs) -> tuple[float, object]:
    """Seconds `step(*args, **kwargs)` took, and its result."""
    started = time.perf_counter()
    result = step(*args, **kwargs)
    return time.perf_counter() - started, result


class FolderSource:
    """The videos as a Dataloop download folder."""

    name = "folder"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def export(self, output: Path, cache: ClipCache) -> None:
        """Export the folder with the clip cache."""
        from movinet_pipeline.core.sources.download_folder import export_local

        export_local(self.folder, output, cache=cache)

    def change_two_items(self) -> None:
        """Relabel the first train item; give the second new bytes (padded: never seen, decodes the same)."""
        first, second = sorted((self.folder / "json" / "train").glob("*.json"))[:2]
        item = json.loads(first.read_text())
        item["annotations"][0]["label"] = "up" if item["annotations"][0]["label"] != "up" else "down"
        first.write_text(json.dumps(item))
        video = self.folder / "items" / json.loads(second.read_text())["filename"].lstrip("/")
        video.write_bytes(video.read_bytes() + bytes(64))


class DataloopSource:
    """The same videos in the Dataloop emulator, exported through dtlpy."""

    name = "dataloop"

    def __init__(self, folder: Path) -> None:
        from tests.dataloop_emulator.seed import seed_dataset
        from tests.dataloop_emulator.server import DataloopEmulator

        self.emulator = DataloopEmulator().start()
        project = self.emulator.store.add_project("benchmark")
        self.dataset = seed_dataset(self.emulator.store, project["id"], "incremental", folder)
        os.environ.update(DATALOOP_ENV=self.emulator.url, DATALOOP_API_KEY=self.emulator.issue_token())

    def export(self, output: Path, cache: ClipCache) -> None:
        """Export the dataset through dtlpy with the clip cache."""
        from movinet_pipeline.core.sources.dataloop import export_dataloop

        export_dataloop(self.dataset["id"], output, cache=cache)

    def change_two_items(self) -> None:
        """Relabel the first train item's annotation; upload new bytes over the second (same item id)."""
        store = self.emulator.store
        videos = sorted((i for i in store.items.values() if i["datasetId"] == self.dataset["id"]
                         and i["type"] == "file" and i["filename"].startswith("/train/")), key=lambda i: i["filename"])
        annotation = next(a for a in store.annotations.values() if a["itemId"] == videos[0]["id"])
        annotation["label"] = "up" if annotation["label"] != "up" else "down"
        store.add_item(self.dataset["id"], videos[1]["filename"], store.blobs[videos[1]["id"]] + bytes(64),
                       mode="overwrite")

    def downloads(self) -> int:
        """Videos streamed from the emulator so far."""
        videos = {i["id"] for i in self.emulator.store.items.values() if i["filename"].endswith(".mp4")}
        return sum(1 for method, path in self.emulator.requests
                   if method == "GET" and path.endswith("/stream") and path.split("/")[-2] in videos)


def run(source, out: Path, config: PipelineConfig, name: str) -> dict:
    """One run: export into a fresh folder, then build the TFRecords; its figures."""
    cache = ClipCache(config.cache_root, SamplingOptions.from_config(config))
    before = source.downloads() if hasattr(source, "downloads") else 0
    export_s, _ = timed(source.export, out / name / "export", cache)
    build_s, stats = timed(build_examples, out / name / "export", out / name / "examples", config)
    downloads = source.downloads() - before if hasattr(source, "downloads") else None
    return {"export_s": export_s, "build_s": build_s, "total_s": export_s + build_s, "clips": stats["clips"],
            "encoded": stats["clips_encoded"], "reused": stats["clips_reused"], "downloads": downloads}


def main() -> None:
    """Generate the videos, then time both runs for each source."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=("folder", "dataloop", "both"), default="both")
    parser.add_argument("--per-class", type=int, default=40, help="train videos per label (validation: a quarter)")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="incremental-bench-"))
    spec = SampleSpec(train_per_class=args.per_class, validation_per_class=max(1, args.per_class // 4), width=640,
                      height=352, frames=120, fps=24)
    videos = out / "videos"
    if not videos.exists():
        generate_sample_dataset(videos, spec)
    total = 4 * (spec.train_per_class + spec.validation_per_class)
    print(f"{total} videos of {spec.frames} frames at {spec.width}x{spec.height}; {os.cpu_count()} cores")
    for kind in (("folder", "dataloop") if args.source == "both" else (args.source,)):
        folder = out / kind / "source"
        shutil.rmtree(out / kind, ignore_errors=True)
        shutil.copytree(videos, folder)
        source = FolderSource(folder) if kind == "folder" else DataloopSource(folder)
        config = PipelineConfig(cache_root=str(out / kind / "cache"))
        first = run(source, out / kind, config, "first")
        source.change_two_items()
        second = run(source, out / kind, config, "second")
        print(f"\n{kind}:")
        print(f"  {'run':8s} {'export s':>9s} {'build s':>8s} {'total s':>8s} {'clips':>6s} {'encoded':>8s} "
              f"{'reused':>7s} {'downloads':>10s}")
        for name, row in (("first", first), ("second", second)):
            downloads = "-" if row["downloads"] is None else row["downloads"]
            print(f"  {name:8s} {row['export_s']:9.2f} {row['build_s']:8.2f} {row['total_s']:8.2f} {row['clips']:6d} "
                  f"{row['encoded']:8d} {row['reused']:7d} {downloads:>10}")
        ratio = second["total_s"] / first["total_s"]
        print(f"  second / first: {ratio:.3f} ({1 / ratio:.1f}x cheaper) -> {'OK' if ratio <= 0.1 else 'OVER'} "
              "the 1/10 target")
        if kind == "dataloop":
            source.emulator.stop()


if __name__ == "__main__":
    main()

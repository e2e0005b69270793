"""Real-time factor per core of the Dataloop adapter's base-mode prediction on the bundled sample's videos.

What the adapter does per item in base mode (decode and sample a clip as evaluation does, then one forward pass of
the pretrained-shaped classifier: MoViNet-`--model-id`, 600 outputs, Model Garden's resolution and 13 frames), timed
on one thread over the sample's validation videos, with Model Garden's 3d kernel and with the fast 3D operations.
Real-time factor = seconds of video / seconds of processing (above 1: faster than the videos play).

python benchmarks/adapter_speed.py [--model-id a0] [--repeats 2] [--videos N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from movinet_pipeline.core.logs import quiet_tensorflow

quiet_tensorflow()

import av  # noqa: E402
import tensorflow as tf  # noqa: E402

from movinet_pipeline.core import layouts  # noqa: E402
from movinet_pipeline.core.config import PipelineConfig  # noqa: E402
from movinet_pipeline.core.media.sample_data import generate_sample_dataset  # noqa: E402
from movinet_pipeline.core.model import network  # noqa: E402
from movinet_pipeline.core.model.inference import video_clip  # noqa: E402
from movinet_pipeline.dataloop_adapter.manifest import RESOLUTIONS  # noqa: E402


def video_seconds(path: Path) -> float:
    """Duration of a video, from its stream's frame count and rate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.frames / float(stream.average_rate)


def seconds_for_all(videos: list[Path], config: PipelineConfig, fast_ops: bool, repeats: int) -> float:
    """Best-of-repeats seconds to decode and classify every video (after one warm-up video)."""
    classifier = network.build_classifier(network.build_backbone(config.model_id, fast_ops=fast_ops),
                                          network.KINETICS_CLASSES, config.n_frames, config.imgz)
    infer = tf.function(lambda clips: tf.nn.softmax(classifier(clips, training=False)))
    infer(video_clip(videos[0], config).frames[None]).numpy()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for video in videos:
            infer(video_clip(video, config).frames[None]).numpy()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    """Time both kernels over the sample; print seconds per video and the real-time factors."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-id", default="a0")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--videos", type=int, default=None, help="only the first N validation videos")
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    config = PipelineConfig(model_id=args.model_id, imgz=RESOLUTIONS[args.model_id], n_frames=13)
    with tempfile.TemporaryDirectory() as scratch:
        sample = generate_sample_dataset(Path(scratch) / "sample")
        videos = sorted((sample / layouts.ITEMS / "validation").rglob("*.mp4"))[: args.videos]
        played = sum(video_seconds(video) for video in videos)
        print(f"MoViNet-{args.model_id.upper()} base, {config.imgz}px x {config.n_frames} frames, 1 thread, "
              f"{len(videos)} videos, {played:.1f} s of video")
        print(f"{'kernel':10s} {'s/video':>8s} {'real-time factor':>17s}", flush=True)
        timings = {}
        for name, fast_ops in (("garden 3d", False), ("fast 3d", True)):
            timings[name] = seconds_for_all(videos, config, fast_ops, args.repeats)
            print(f"{name:10s} {timings[name] / len(videos):8.2f} {played / timings[name]:16.2f}x", flush=True)
        print(f"fast / garden speed-up: {timings['garden 3d'] / timings['fast 3d']:.1f}x")


if __name__ == "__main__":
    main()

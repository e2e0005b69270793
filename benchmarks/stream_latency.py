"""Stream latency: per-frame stream models against per-clip base mode.

Stream latency: per-frame latency of the stream SavedModel and the TFLite stream model against base-mode per-clip
latency, for a causal MoViNet exported exactly as the trainer exports it (weights do not change the latency, so
the model is not trained). One inference thread unless --threads says otherwise.

    python benchmarks/stream_latency.py [--model-id a0] [--imgz 172] [--frames 8] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from movinet_pipeline.core.logs import quiet_tensorflow

quiet_tensorflow()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from movinet_pipeline.core import layouts  # noqa: E402
from movinet_pipeline.core.config import PipelineConfig  # noqa: E402
from movinet_pipeline.core.model import network as modeling  # noqa: E402
from movinet_pipeline.core.model.inference import StreamModel, TfliteStreamModel  # noqa: E402
from movinet_pipeline.core.model.stream_export import export_stream  # noqa: E402


def best_seconds(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Best and median seconds of `run` over `repeats`."""
    run()  # warm up (tracing, delegate setup)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    """Export a causal model and print per-frame and per-clip latencies."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-id", default="a0")
    parser.add_argument("--imgz", type=int, default=172)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    config = PipelineConfig(model_id=args.model_id, imgz=args.imgz, n_frames=args.frames, causal=True,
                            conv_type="2plus1d")
    base = modeling.build_classifier(modeling.build_backbone(args.model_id, "2plus1d", causal=True), 4,
                                     args.frames, args.imgz)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        export_stream(base, config, 4, folder)
        export_seconds = time.perf_counter() - started
        modeling.export_saved_model(base, Path(folder) / layouts.SAVED_MODEL)
        serving = tf.saved_model.load(str(Path(folder) / layouts.SAVED_MODEL)).signatures["serving_default"]
        stream = StreamModel(Path(folder) / layouts.STREAM_MODEL, [])
        tflite = TfliteStreamModel(Path(folder) / layouts.STREAM_TFLITE, [], num_threads=args.threads)
        clip = tf.random.uniform([1, args.frames, args.imgz, args.imgz, 3])
        np.testing.assert_allclose(tflite.logits(clip), serving(image=clip)["logits"].numpy(), atol=1e-3)
        results = {
            "base SavedModel (whole clip)": best_seconds(lambda: serving(image=clip), args.repeats),
            "stream SavedModel (frame by frame)": best_seconds(lambda: stream.logits(clip), args.repeats),
            "TFLite stream (frame by frame)": best_seconds(lambda: tflite.logits(clip), args.repeats),
        }
    print(f"MoViNet-{args.model_id.upper()} causal 2plus1d, {args.imgz}x{args.imgz}, clips of {args.frames} frames, "
          f"{args.threads} thread(s), best and median of {args.repeats}; export took {export_seconds:.0f} s")
    baseline = results["base SavedModel (whole clip)"][0] / args.frames
    print(f"{'path':36s} {'ms/frame best':>14s} {'median':>8s} {'vs base':>8s}")
    for name, (best, median) in results.items():
        per_frame = best / args.frames
        print(f"{name:36s} {1000 * per_frame:14.1f} {1000 * median / args.frames:8.1f} {per_frame / baseline:7.2f}x")


if __name__ == "__main__":
    main()

"""Stream latency: per-frame stream models (SavedModel, TFLite float32 / float16 / int8) against base mode.

Per-frame latency of the stream SavedModel and the TFLite stream models (int8 calibrated on random clips, which
does not change its speed) against base-mode per-clip latency, for a causal MoViNet exported exactly as the
trainer exports it (weights do not change the latency, so the model is not trained). One inference thread unless
--threads says otherwise.

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
        calibration = [tf.random.uniform([args.frames, args.imgz, args.imgz, 3]) for _ in range(4)]  # latency only
        export_stream(base, config, 4, folder, calibration)
        export_seconds = time.perf_counter() - started
        modeling.export_saved_model(base, Path(folder) / layouts.SAVED_MODEL)
        serving = tf.saved_model.load(str(Path(folder) / layouts.SAVED_MODEL)).signatures["serving_default"]
        stream = StreamModel(Path(folder) / layouts.STREAM_MODEL, [])
        tflite = {precision: TfliteStreamModel(Path(folder) / layouts.stream_tflite_name(precision), [],
                                               num_threads=args.threads) for precision in layouts.TFLITE_PRECISIONS}
        sizes = {f"TFLite {p} stream (frame by frame)": (Path(folder) / layouts.stream_tflite_name(p)).stat().st_size
                 for p in layouts.TFLITE_PRECISIONS}
        clip = tf.random.uniform([1, args.frames, args.imgz, args.imgz, 3])
        np.testing.assert_allclose(tflite["float32"].logits(clip), serving(image=clip)["logits"].numpy(), atol=1e-3)
        results = {
            "base SavedModel (whole clip)": best_seconds(lambda: serving(image=clip), args.repeats),
            "stream SavedModel (frame by frame)": best_seconds(lambda: stream.logits(clip), args.repeats),
            **{f"TFLite {p} stream (frame by frame)": best_seconds(lambda m=m: m.logits(clip), args.repeats)
               for p, m in tflite.items()},
        }
    print(f"MoViNet-{args.model_id.upper()} causal 2plus1d, {args.imgz}x{args.imgz}, clips of {args.frames} frames, "
          f"{args.threads} thread(s), best and median of {args.repeats}; export took {export_seconds:.0f} s")
    baseline = results["base SavedModel (whole clip)"][0] / args.frames
    print(f"{'path':38s} {'ms/frame best':>14s} {'median':>8s} {'vs base':>8s} {'MB':>6s}")
    for name, (best, median) in results.items():
        per_frame, size = best / args.frames, f"{sizes[name] / 1e6:6.2f}" if name in sizes else ""
        print(f"{name:38s} {1000 * per_frame:14.1f} {1000 * median / args.frames:8.1f} {per_frame / baseline:7.2f}x "
              f"{size}")


if __name__ == "__main__":
    main()

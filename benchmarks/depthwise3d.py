"""Inference ms/frame of MoViNet base on one CPU thread: Model Garden's 3d kernel, the taps, 2plus1d.

Three variants, ratios in the same run: conv_type 3d with Model Garden's grouped Conv3D, 3d with the depthwise
convolutions computed by taps (the project's default on CPU), and 2plus1d.

python benchmarks/depthwise3d.py [--models a0 a2 a5] [--sizes 172 224] [--frames 13] [--repeats 3]

Random weights (the speed does not depend on them); a clip of `--frames` frames, batch 1, best of `--repeats` after
a warm-up call (tracing and XLA compilation excluded).
"""

from __future__ import annotations

import argparse
import time

from movinet_pipeline.core.logs import quiet_tensorflow

quiet_tensorflow()

import tensorflow as tf  # noqa: E402

from movinet_pipeline.core.model.network import build_backbone, build_classifier  # noqa: E402

VARIANTS = {  # name: (conv_type, fast_ops)
    "garden 3d": ("3d", False),
    "taps 3d": ("3d", True),
    "2plus1d": ("2plus1d", False),
}


def ms_per_frame(model_id: str, size: int, variant: str, args: argparse.Namespace) -> float:
    """Best-of-repeats inference time per frame of one variant."""
    conv_type, taps = VARIANTS[variant]
    model = build_classifier(build_backbone(model_id, conv_type, fast_ops=taps), 600, args.frames, size)
    clip = tf.random.uniform([1, args.frames, size, size, 3])
    infer = tf.function(lambda x: model(x, training=False))
    infer(clip).numpy()
    best = float("inf")
    for _ in range(args.repeats):
        started = time.perf_counter()
        infer(clip).numpy()
        best = min(best, time.perf_counter() - started)
    return 1000 * best / args.frames


def main() -> None:
    """Time every variant per model and size; print the table with the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["a0", "a2", "a5"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[172, 224])
    parser.add_argument("--frames", type=int, default=13)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    print(f"MoViNet base, 1 thread, batch 1 x {args.frames} frames, ms/frame (best of {args.repeats})")
    print(f"{'model':6s} {'size':>5s} " + " ".join(f"{name:>10s}" for name in VARIANTS)
          + f" {'garden/taps':>12s} {'taps/2plus1d':>13s}", flush=True)
    for model_id in args.models:
        for size in args.sizes:
            times = {variant: ms_per_frame(model_id, size, variant, args) for variant in VARIANTS}
            print(f"{model_id:6s} {size:5d} " + " ".join(f"{ms:10.1f}" for ms in times.values())
                  + f" {times['garden 3d'] / times['taps 3d']:11.1f}x {times['taps 3d'] / times['2plus1d']:12.2f}x",
                  flush=True)


if __name__ == "__main__":
    main()

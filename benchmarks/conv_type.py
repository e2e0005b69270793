"""Train-step time of MoViNet per conv_type, as ratios against conv_type=3d measured in the same run.

python benchmarks/conv_type.py [--model-id a0] [--imgz 32] [--frames 8] [--batch 8] [--steps 10]
"""

from __future__ import annotations

import argparse
import time

from movinet_pipeline.core.logs import quiet_tensorflow

quiet_tensorflow()

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from movinet_pipeline.core.model.network import build_backbone, build_classifier  # noqa: E402


def seconds_per_step(conv_type: str, args: argparse.Namespace) -> float:
    """Seconds per training step of a0 with `conv_type` (best of the timed steps)."""
    model = build_classifier(build_backbone(args.model_id, conv_type), 4, args.frames, args.imgz)
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    clips = tf.random.uniform([args.batch * args.steps, args.frames, args.imgz, args.imgz, 3])
    labels = tf.random.uniform([args.batch * args.steps], 0, 4, tf.int32)
    data = tf.data.Dataset.from_tensor_slices((clips, labels)).batch(args.batch).cache()
    model.fit(data.take(2), verbose=0)  # trace and warm up
    started = time.perf_counter()
    model.fit(data, verbose=0)
    return (time.perf_counter() - started) / args.steps


def main() -> None:
    """Time each conv_type and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-id", default="a0")
    parser.add_argument("--imgz", type=int, default=32)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    baseline = seconds_per_step("3d", args)
    threads = tf.config.threading.get_intra_op_parallelism_threads() or "all"
    print(f"{args.model_id} {args.imgz}x{args.imgz}x{args.frames}, batch {args.batch}, {threads} threads")
    print(f"{'conv_type':12s} {'s/step':>8s} {'ms/clip':>8s} {'speed-up vs 3d':>15s}")
    for conv_type in ("3d", "2plus1d", "3d_2plus1d"):
        seconds = baseline if conv_type == "3d" else seconds_per_step(conv_type, args)
        print(f"{conv_type:12s} {seconds:8.3f} {1000 * seconds / args.batch:8.1f} {baseline / seconds:14.1f}x")


if __name__ == "__main__":
    main()

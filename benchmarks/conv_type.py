"""Train-step time of MoViNet per conv_type, as ratios against the first variant measured in the same run.

python benchmarks/conv_type.py [--model-id a0] [--imgz 32] [--frames 8] [--batch 8] [--steps 10]
                               [--variants 2plus1d 3d 3d-garden 3d_2plus1d]

Variants: a conv_type (3d computes its depthwise convolutions by taps, the default on CPU), or 3d-garden (Model
Garden's grouped Conv3D, the kernel MoViNet uses without this project's fast path).
"""

from __future__ import annotations

import argparse
import time

from movinet_pipeline.core.logs import quiet_tensorflow

quiet_tensorflow()

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from movinet_pipeline.core.model.network import build_backbone, build_classifier  # noqa: E402


def seconds_per_step(variant: str, args: argparse.Namespace) -> float:
    """Seconds per training step (the mean over the timed steps) of one variant."""
    conv_type = variant.removesuffix("-garden")
    backbone = build_backbone(args.model_id, conv_type, fast_ops=not variant.endswith("-garden"))
    model = build_classifier(backbone, 4, args.frames, args.imgz)
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
    parser.add_argument("--variants", nargs="+", default=["2plus1d", "3d", "3d-garden", "3d_2plus1d"])
    args = parser.parse_args()
    threads = tf.config.threading.get_intra_op_parallelism_threads() or "all"
    print(f"{args.model_id} {args.imgz}x{args.imgz}x{args.frames}, batch {args.batch}, {threads} threads")
    print(f"{'variant':12s} {'s/step':>8s} {'ms/clip':>8s} {'time vs ' + args.variants[0]:>18s}", flush=True)
    baseline = None
    for variant in args.variants:
        seconds = seconds_per_step(variant, args)
        baseline = baseline or seconds
        print(f"{variant:12s} {seconds:8.3f} {1000 * seconds / args.batch:8.1f} {seconds / baseline:17.2f}x",
              flush=True)

if __name__ == "__main__":
    main()

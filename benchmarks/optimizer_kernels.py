"""Keras' optimizers against their fused-kernel ("legacy") forms on MoViNet: tracing seconds and step time.

    python benchmarks/optimizer_kernels.py [--model-id a0] [--conv-type 2plus1d] [--imgz 48] [--frames 8]
                                           [--batch 8] [--steps 24] [--repeats 3]

The trainer builds `tf_keras.optimizers.legacy.Adam` (one `ResourceApplyAdam` op per variable, as Model Garden's
trainer does by default) rather than `tf_keras.optimizers.Adam` (several ops per variable). Each run is a fresh
process (tracing cost depends on what a process has traced before), runs of the two interleaved (this machine is
noisy): Keras `fit` of one batch (tracing the train step + one step), then `--steps` steps. Prints every run, the
best of each and the ratios fused / Keras.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

OPTIMIZERS = ("keras", "fused")


def one_run(optimizer: str, args: argparse.Namespace) -> dict:
    """Trace and step seconds of one optimizer, in this process."""
    from movinet_pipeline.core.logs import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf
    import tf_keras

    from movinet_pipeline.core.model.network import build_backbone, build_classifier

    model = build_classifier(build_backbone(args.model_id, args.conv_type), 4, args.frames, args.imgz)
    adam = tf_keras.optimizers.legacy.Adam if optimizer == "fused" else tf_keras.optimizers.Adam
    model.compile(optimizer=adam(1e-3), loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    clips = tf.random.uniform([args.batch * args.steps, args.frames, args.imgz, args.imgz, 3])
    labels = tf.random.uniform([args.batch * args.steps], 0, 4, tf.int32)
    data = tf.data.Dataset.from_tensor_slices((clips, labels)).batch(args.batch).cache()
    started = time.perf_counter()
    model.fit(data.take(1), verbose=0)
    traced = time.perf_counter()
    model.fit(data, verbose=0)
    return {"trace": traced - started, "step": (time.perf_counter() - traced) / args.steps}


def main() -> None:
    """Run each optimizer `--repeats` times in fresh processes, interleaved; print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-id", default="a0")
    parser.add_argument("--conv-type", default="2plus1d")
    parser.add_argument("--imgz", type=int, default=48)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", choices=OPTIMIZERS, help=argparse.SUPPRESS)  # a child process's single run
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one, args)))
        return
    runs: dict[str, list[dict]] = {name: [] for name in OPTIMIZERS}
    for _ in range(args.repeats):
        for name in OPTIMIZERS:
            child = subprocess.run([sys.executable, __file__, "--one", name, *sys.argv[1:]], check=True,
                                   capture_output=True, text=True)
            runs[name].append(json.loads(child.stdout.strip().splitlines()[-1]))
    print(f"MoViNet-{args.model_id.upper()} {args.conv_type}, {args.frames}x{args.imgz}x{args.imgz}, batch "
          f"{args.batch}, Adam; best of {args.repeats} fresh processes each")
    print(f"  {'optimizer':10s} {'trace s':>8s} {'ms/step':>8s}   every run (trace s / ms per step)")
    best = {}
    for name, rows in runs.items():
        best[name] = {key: min(row[key] for row in rows) for key in ("trace", "step")}
        every = ", ".join(f"{row['trace']:.1f} / {row['step'] * 1000:.0f}" for row in rows)
        print(f"  {name:10s} {best[name]['trace']:8.1f} {best[name]['step'] * 1000:8.0f}   {every}")
    print(f"  fused / keras: tracing {best['fused']['trace'] / best['keras']['trace']:.2f}x, "
          f"step time {best['fused']['step'] / best['keras']['step']:.2f}x")


if __name__ == "__main__":
    main()

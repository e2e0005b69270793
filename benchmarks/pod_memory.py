"""Peak memory of serving each MoViNet size on CPU: what dataloop.json's pod per size is chosen from.

Each size runs in a fresh process: TensorFlow imported, the Kinetics-600 classifier built as the adapter serves TF
Hub's (conv_type 3d, 600 outputs, the fast 3D operations on CPU), one base-mode prediction on a batch of
`batch_size` clips (the adapter predicts items in batches of the configuration's batch_size) of `n_frames` at Model
Garden's resolution for the size (`dataloop_adapter/manifest.py`'s RESOLUTIONS), then the process's peak resident
memory (ru_maxrss). Printed per size with the ratio to a0 measured in the same run, and as the PEAK_MEMORY_MIB table
the manifest generator takes.

    python benchmarks/pod_memory.py [--sizes a0 a1 ...] [--n-frames 13] [--batch-size 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

MEASURE = """
import json, resource, sys, time
import tensorflow as tf
from movinet_pipeline.core.model import network
model_id, size, frames, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
idle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
classifier = network.build_classifier(network.build_backbone(model_id), network.KINETICS_CLASSES, frames, size)
started = time.perf_counter()
probabilities = tf.nn.softmax(classifier(tf.random.uniform([batch, frames, size, size, 3]), training=False))
seconds = time.perf_counter() - started
assert probabilities.shape == (batch, network.KINETICS_CLASSES)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mib": round(peak / 1024), "tensorflow_mib": round(idle / 1024), "seconds": round(seconds, 1)}))
"""


def measure(model_id: str, size: int, frames: int, batch: int) -> dict:
    """One size in a fresh process."""
    completed = subprocess.run([sys.executable, "-c", MEASURE, model_id, str(size), str(frames), str(batch)],
                               capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Measure, print a table and the generator's PEAK_MEMORY_MIB."""
    from movinet_pipeline.core.config import MODEL_IDS, PipelineConfig
    from movinet_pipeline.dataloop_adapter.manifest import RESOLUTIONS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=list(MODEL_IDS), choices=MODEL_IDS)
    parser.add_argument("--n-frames", type=int, default=PipelineConfig().n_frames)
    parser.add_argument("--batch-size", type=int, default=PipelineConfig().batch_size)
    args = parser.parse_args(argv)
    results = {}
    for model_id in args.sizes:
        results[model_id] = measure(model_id, RESOLUTIONS[model_id], args.n_frames, args.batch_size)
        first = results[args.sizes[0]]["peak_mib"]
        row = results[model_id]
        print(f"{model_id}: {args.batch_size} x {args.n_frames} frames x {RESOLUTIONS[model_id]} px: "
              f"peak {row['peak_mib']} MiB "
              f"({row['peak_mib'] / first:.2f}x {args.sizes[0]}; TensorFlow alone {row['tensorflow_mib']} MiB), "
              f"prediction {row['seconds']} s", flush=True)
    print("PEAK_MEMORY_MIB =", json.dumps({model_id: row["peak_mib"] for model_id, row in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

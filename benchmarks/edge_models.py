"""Edge models: accuracy change, size and per-frame latency of the TFLite stream models of a trained model.

Trains a causal MoViNet-A0 (conv_type 2plus1d) on the bundled sample (the `cpu-sample` profile at --imgz, 30
epochs, from scratch), which exports the float32, float16 and int8 TFLite stream models (int8 calibrated on 16
training clips with their stream states), then prints evaluation's table: top-1 on the validation clips fed frame
by frame on one thread, its change against float32, agreement with float32, size and per-frame latency.

    python benchmarks/edge_models.py [--imgz 32] [--frames 6] [--epochs 30] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from movinet_pipeline.core.logs import quiet_tensorflow

quiet_tensorflow()

from movinet_pipeline.components.evaluate.edge_models import edge_model_rows  # noqa: E402
from movinet_pipeline.core.config import resolve_config  # noqa: E402
from movinet_pipeline.core.examples.job import build_examples  # noqa: E402
from movinet_pipeline.core.media.sample_data import generate_sample_dataset  # noqa: E402
from movinet_pipeline.core.model.training import train  # noqa: E402
from movinet_pipeline.core.sources.download_folder import export_local  # noqa: E402


def main() -> None:
    """Train, export and measure; print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imgz", type=int, default=32)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the sample, records and model here")
    args = parser.parse_args()
    config = resolve_config("cpu-sample", None, {"causal": True, "num_epochs": args.epochs, "imgz": args.imgz,
                                                 "n_frames": args.frames, "pretrained": "none", "num_shards": 1})
    with tempfile.TemporaryDirectory() as scratch:
        root = args.workdir or Path(scratch)
        export_local(generate_sample_dataset(root / "sample"), root / "export")
        build_examples(root / "export", root / "examples", config, [])
        train(root / "examples", root / "model", config)
        rows = edge_model_rows(root / "model", root / "examples", "validation", config)
    print(f"MoViNet-A0 causal 2plus1d, {args.imgz}x{args.imgz}, {args.frames} frames, {args.epochs} epochs; "
          f"{rows[0]['clips']} validation clips, one thread")
    print(f"{'precision':10s} {'MB':>6s} {'top-1':>6s} {'change':>7s} {'agrees':>7s} {'ms/frame':>9s}")
    for row in rows:
        print(f"{row['precision']:10s} {row['megabytes']:6.2f} {row['top1_accuracy']:6.3f} {row['top1_change']:+7.3f} "
              f"{row['agreement_with_float32']:7.3f} {row['ms_per_frame']:9.2f}")


if __name__ == "__main__":
    main()

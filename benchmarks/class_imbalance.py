"""Minority-label recall with and without `class_balance`, on an imbalanced synthetic set, in one run.

    python benchmarks/class_imbalance.py [--minority-train 4] [--epochs 20] [--repeats 2] [--out DIR]

The data: the bundled sample generator (4 direction labels, 48 train and 12 validation videos per label), with the
"right" label cut to `--minority-train` training videos (12:1 by default); validation stays balanced. Each
`class_balance` (none, weights, sampling) trains MoViNet-A0 (2+1)D from scratch on the same TFRecords with the same
seed, no random flips (left and right must stay apart), and is evaluated on the validation clips. Prints the
minority label's recall and the top-1 accuracy of each, per seed and averaged.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
from pathlib import Path

from movinet_pipeline.components.evaluate.evaluator import evaluate
from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.examples.job import build_examples
from movinet_pipeline.core.media.sample_data import generate_sample_dataset
from movinet_pipeline.core.model.training import train
from movinet_pipeline.core.sources.download_folder import export_local

MINORITY = "right"
BALANCES = ("none", "weights", "sampling")


def prepare(out: Path, minority_train: int, config: PipelineConfig) -> Path:
    """The imbalanced sample's TFRecords (generated once per folder)."""
    examples = out / "examples"
    if (examples / layouts.STATS).exists():
        return examples
    videos = out / "videos"
    if not videos.exists():
        generate_sample_dataset(videos)
        for item_json in sorted((videos / layouts.ITEM_JSON / "train").glob(f"{MINORITY}_*.json"))[minority_train:]:
            item_json.unlink()  # the item is gone from the dataset: the export never sees it
    export_local(videos, out / "export")
    build_examples(out / "export", examples, config)
    return examples


def main() -> None:
    """Train each balance mode, evaluate, print the minority recall."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minority-train", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2, help="seeds per mode")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    out = args.out or Path(tempfile.mkdtemp(prefix="imbalance-bench-"))
    config = PipelineConfig(imgz=48, n_frames=8, batch_size=8, num_epochs=args.epochs, conv_type="2plus1d",
                            pretrained="none", norm_momentum=0.9, lr_schedule="constant", label_smoothing=0.0,
                            random_flip=False, mixed_precision="float32")
    examples = prepare(out, args.minority_train, config)
    rows: dict[str, list[tuple[float, float]]] = {balance: [] for balance in BALANCES}
    for seed in range(args.repeats):
        for balance in BALANCES:
            run = config.replace(class_balance=balance, seed=seed)
            model = out / f"{balance}-{seed}"
            train(examples, model / "model", run)
            figures, _ = evaluate(model / "model", examples, model / "evaluation", run)
            minority = next(c for c in figures.per_class if c.label == MINORITY)
            rows[balance].append((minority.recall, figures.top1_accuracy))
    print(f"\n{MINORITY!r}: {args.minority_train} training videos against 48 for each other label; validation 12 "
          f"per label; {args.epochs} epochs, seeds 0..{args.repeats - 1}")
    print(f"  {'class_balance':14s} {'minority recall':>16s} {'top-1':>7s}   (every seed: recall / top-1)")
    for balance, results in rows.items():
        every = ", ".join(f"{recall:.3f} / {top1:.3f}" for recall, top1 in results)
        print(f"  {balance:14s} {statistics.mean(r for r, _ in results):16.3f} "
              f"{statistics.mean(t for _, t in results):7.3f}   ({every})")


if __name__ == "__main__":
    main()

"""Our trainer against Model Garden's on the same TFRecords: examples per second and accuracy, in one run.

    python benchmarks/trainer_throughput.py [--epochs 30] [--batch 8] [--imgz 48] [--frames 8] [--out DIR]

The data: the bundled sample generator (4 direction labels, 48 train and 12 validation videos per label), built
into TFRecords by our Beam job. Both trainers train MoViNet-A0 ((2+1)D convolutions, which a CPU runs ~14x faster
than 3D; batch-norm momentum 0.9; no dropout, stochastic depth or weight decay; Adam at a constant 0.001; float32)
from scratch for the same steps at the same global batch, validating once per epoch on the same validation clips.
Both flip training clips left/right at random (Model Garden's video parser always does; ours then must too), which
makes "left" and "right" indistinguishable: the accuracy ceiling is 0.75, chance 0.25.

1. ours: `movinet_pipeline.core.model.training.train` (tf_keras `fit` on our tf.data pipeline);
2. Model Garden: `official.core.train_lib.run_experiment` with the `movinet_kinetics600` experiment config
   (Orbit controller, `video_input` parser on the same records: `image/encoded`, `clip/label/index`).

Each trainer runs `--repeats` times, interleaved (this machine is noisy), each run in a fresh process (neither
trainer inherits the other's threads, caches or global settings); prints the fastest run's seconds, examples/s
and last validation top-1 of each, every run's figures, and the ratio ours / Model Garden. Seconds cover the same
work in both: building the network (~8 s for MoViNet-A0 here, in either), tracing, training and validating; not
the FLOPs count Model Garden's `run_experiment` makes after training (~8 s here).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.examples.job import build_examples
from movinet_pipeline.core.media.sample_data import generate_sample_dataset
from movinet_pipeline.core.sources.download_folder import export_local

TRAIN_CLIPS, VALIDATION_CLIPS, LABELS = 192, 48, 4


def prepare(out: Path, config: PipelineConfig) -> Path:
    """The sample's TFRecords for `config` (generated once per folder)."""
    examples = out / f"examples-{config.imgz}-{config.n_frames}"
    if not (examples / "stats.json").exists():
        videos = out / "videos"
        if not videos.exists():
            generate_sample_dataset(videos)
        export_local(videos, out / "export")
        build_examples(out / "export", examples, config)
    return examples


def ours(examples: Path, out: Path, config: PipelineConfig) -> dict:
    """Train with our trainer; its fit seconds and last validation accuracy."""
    from movinet_pipeline.core.model.training import train

    summary = train(examples, out / "ours", config)
    history = json.loads((out / "ours" / layouts.HISTORY).read_text())
    return {"seconds": summary.seconds, "accuracy": history["val_accuracy"][-1]}


def _timed(module, name: str) -> list[float]:
    """Wrap `module.name` to record the seconds of each call; the list the seconds go to."""
    seconds, function = [], getattr(module, name)

    def timed(*args, **kwargs):
        started = time.monotonic()
        try:
            return function(*args, **kwargs)
        finally:
            seconds.append(time.monotonic() - started)

    setattr(module, name, timed)
    return seconds


def model_garden(examples: Path, out: Path, config: PipelineConfig, steps: int, steps_per_epoch: int) -> dict:
    """Train with Model Garden's train library and MoViNet experiment; its seconds and last validation accuracy."""
    import tensorflow as tf
    from official.core import exp_factory, task_factory, train_lib, train_utils
    from official.projects.movinet.configs import movinet  # noqa: F401 (registers the experiment)
    from official.projects.movinet.modeling import movinet as movinet_backbone  # noqa: F401 (registers it)
    from official.projects.movinet.modeling import movinet_model  # noqa: F401 (registers the model builder)

    params = exp_factory.get_exp_config("movinet_kinetics600")
    params.runtime.mixed_precision_dtype = "float32"
    model = params.task.model
    model.backbone.movinet.model_id, model.backbone.movinet.conv_type = config.model_id, config.conv_type
    model.backbone.movinet.stochastic_depth_drop_rate = 0.0
    model.dropout_rate = 0.0
    model.norm_activation.norm_momentum, model.norm_activation.use_sync_bn = config.norm_momentum, False
    params.task.losses.l2_weight_decay, params.task.losses.label_smoothing = 0.0, 0.0
    for data, subset, training in ((params.task.train_data, "train", True),
                                   (params.task.validation_data, "validation", False)):
        data.input_path = str(examples / subset / "clips-*.tfrecord")
        data.feature_shape = (config.n_frames, config.imgz, config.imgz, 3)
        data.min_image_size = config.short_side
        data.temporal_stride = config.frames_per_record // config.n_frames
        data.global_batch_size, data.num_classes, data.dtype = config.batch_size, LABELS, "float32"
        data.is_training, data.drop_remainder = training, training
        data.num_examples = TRAIN_CLIPS if training else VALIDATION_CLIPS
    trainer = params.trainer
    trainer.train_steps, trainer.steps_per_loop, trainer.summary_interval = steps, steps_per_epoch, steps_per_epoch
    trainer.validation_interval, trainer.checkpoint_interval = steps_per_epoch, steps
    trainer.validation_steps = math.ceil(VALIDATION_CLIPS / config.batch_size)
    trainer.optimizer_config.optimizer.type = "adam"
    trainer.optimizer_config.learning_rate.type = "constant"
    trainer.optimizer_config.learning_rate.constant.learning_rate = config.learning_rate
    trainer.optimizer_config.warmup.type = None
    task = task_factory.get_task(params.task, logging_dir=str(out / "model-garden"))
    counting = _timed(train_utils, "try_count_flops")  # run_experiment counts FLOPs after training: not training
    started = time.monotonic()
    train_lib.run_experiment(distribution_strategy=tf.distribute.get_strategy(), task=task, mode="train_and_eval",
                             params=params, model_dir=str(out / "model-garden"))
    seconds = time.monotonic() - started - sum(counting)
    _, logs = train_lib.run_experiment(distribution_strategy=tf.distribute.get_strategy(), task=task, mode="eval",
                                       params=params, model_dir=str(out / "model-garden"),
                                       run_post_eval=True)  # the last step's figures, outside the timing
    return {"seconds": seconds, "accuracy": float(logs["accuracy"])}


def main() -> None:
    """Prepare the records, train both, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--imgz", type=int, default=48)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each trainer, interleaved; the fastest counts")
    parser.add_argument("--trainers", nargs="+", default=["ours", "Model Garden"], choices=["ours", "Model Garden"])
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process's single run: the trainer's name
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    out = args.out or Path(tempfile.mkdtemp(prefix="trainer-bench-"))
    config = PipelineConfig(imgz=args.imgz, n_frames=args.frames, batch_size=args.batch, num_epochs=args.epochs,
                            conv_type="2plus1d", pretrained="none", norm_momentum=0.9, lr_schedule="constant",
                            label_smoothing=0.0, random_flip=True, mixed_precision="float32")
    examples = prepare(out, config)
    steps_per_epoch = math.ceil(TRAIN_CLIPS / args.batch)
    steps = steps_per_epoch * args.epochs
    if args.one:
        shutil.rmtree(args.run_dir, ignore_errors=True)  # a fresh start: our trainer would resume a previous run
        run = ours(examples, args.run_dir, config) if args.one == "ours" else model_garden(
            examples, args.run_dir, config, steps, steps_per_epoch)
        print(json.dumps(run))
        return
    trials: dict[str, list[dict]] = {name: [] for name in args.trainers}
    for repeat in range(args.repeats):  # interleaved, so a slow spell of the machine hits both
        for name in args.trainers:
            child = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--out", str(out), "--one", name,
                                    "--run-dir", str(out / f"run-{repeat}")], check=True, stdout=subprocess.PIPE,
                                   text=True)
            trials[name].append(json.loads(child.stdout.strip().splitlines()[-1]))
    results = {name: min(rows, key=lambda row: row["seconds"]) for name, rows in trials.items()}
    print(f"\nMoViNet-A0 2plus1d, {args.frames}x{args.imgz}x{args.imgz}, batch {args.batch}, {steps} steps "
          f"({args.epochs} epochs of {TRAIN_CLIPS} clips), validation on {VALIDATION_CLIPS} clips each epoch")
    print(f"  {'trainer':14s} {'seconds':>8s} {'examples/s':>11s} {'val top-1':>10s}   (best of {args.repeats}; "
          "every run: seconds / top-1)")
    for name, row in results.items():
        every = ", ".join(f"{trial['seconds']:.1f} / {trial['accuracy']:.3f}" for trial in trials[name])
        print(f"  {name:14s} {row['seconds']:8.1f} {steps * args.batch / row['seconds']:11.2f} "
              f"{row['accuracy']:10.3f}   ({every})")
    if len(results) == 2:
        ratio = results["Model Garden"]["seconds"] / results["ours"]["seconds"]
        print(f"  ours / Model Garden, examples/s: {ratio:.2f}x")


if __name__ == "__main__":
    main()

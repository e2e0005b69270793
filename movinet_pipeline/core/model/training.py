"""train logic: fine-tune a base-mode MoViNet on the examples and save the model contract.

Output (the model contract): `saved_model/`, the weights file named by `weights_filename`, `labels.json`,
`config.json`, `history.json`, `calibration.json` (with `temperature_scaling` or `target_precision`), `logs/`
(TensorBoard) and `checkpoints/` (resumable: a restarted run with the same output continues from the last backup;
`best/`, `last/` and, after a frozen-backbone warm-up, `head_only/` hold weights).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras

from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import PipelineConfig, write_config
from movinet_pipeline.core.model import cluster as cluster_module
from movinet_pipeline.core.model import input_pipeline as data
from movinet_pipeline.core.model import network as modeling
from movinet_pipeline.core.model.calibration import Calibration, calibrate
from movinet_pipeline.core.model.stream_export import export_stream

log = logging.getLogger(__name__)


class TrainError(RuntimeError):
    """Training cannot start or finish; the message says why."""


@dataclass(frozen=True)
class TrainSummary:
    """What a training run did."""
    epochs: int
    best_val_accuracy: float
    pretrained: str
    seconds: float  # building the network (with its pretrained weights) and fitting it


def learning_rate(config: PipelineConfig, steps_per_epoch: int | None):
    """The learning rate, or Model Garden's warm-up + cosine schedule.

    `learning_rate` as peak: constant, or (Model Garden's recipe) a linear warm-up over `warmup_epochs` then a
    cosine decay to 0 at the last step. Driven by the optimizer's step count, so a resumed run continues the curve.
    """
    if config.lr_schedule == "constant" or not steps_per_epoch:
        return config.learning_rate
    total = steps_per_epoch * config.num_epochs
    warmup = min(total - 1, round(steps_per_epoch * config.warmup_epochs))
    if warmup <= 0:
        return tf_keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=total)
    return tf_keras.optimizers.schedules.CosineDecay(0.0, decay_steps=total - warmup,
                                                     warmup_target=config.learning_rate,
                                                     warmup_steps=warmup)


def backup_frequency(steps_per_epoch: int | None, backup_steps: int) -> int | str:
    """BackupAndRestore's `save_freq`: backups at least `backup_steps` apart, at epoch ends or halves.

    Twice per epoch when half an epoch has `backup_steps` (a preempted run loses at most half an epoch); else at the
    end of every k-th epoch, the first that gets `backup_steps` past the last backup (each backup writes the model
    and optimizer state: on short epochs, one per epoch costs more than the steps it protects). Keras resumes a
    backup taken at an epoch's last step from the next epoch.
    """
    if not steps_per_epoch or not backup_steps:
        return "epoch"
    if steps_per_epoch // 2 >= backup_steps:
        return steps_per_epoch // 2
    epochs = -(-backup_steps // steps_per_epoch)
    return "epoch" if epochs == 1 else epochs * steps_per_epoch


def _resume_point(backup: Path, save_freq: int | str, steps_per_epoch: int | None) -> str:
    """Where the chief's last backup (BackupAndRestore's) resumes training ("after epoch E"), or "" (none)."""
    latest = tf.train.latest_checkpoint(str(backup / "chief"))
    if not latest:
        return ""
    reader = tf.train.load_checkpoint(latest)
    epoch, batch = (int(reader.get_tensor(f"ckpt_saved_{name}/.ATTRIBUTES/VARIABLE_VALUE")) for name in
                    ("epoch", "batch"))
    if save_freq == "epoch" or batch + 1 == steps_per_epoch:
        return f"after epoch {epoch + 1}"
    return f"in epoch {epoch + 1} after step {batch + 1}"


def _optimizer(config: PipelineConfig, steps_per_epoch: int | None) -> tf_keras.optimizers.legacy.Optimizer:
    """The configured optimizer, in its fused-kernel (Keras "legacy") form, as Model Garden's trainer builds it.

    One fused update op per variable (`ResourceApplyAdam`, ...) instead of several: on MoViNet-A0 on a CPU, tracing
    the train step took ~13 s less (23 s against 36 s; `benchmarks/optimizer_kernels.py`, results in
    `benchmarks/RESULTS.md`). `_compile` creates its slots.
    """
    rate = learning_rate(config, steps_per_epoch)
    if config.optimizer == "adam":
        return tf_keras.optimizers.legacy.Adam(rate)
    if config.optimizer == "rmsprop":
        return tf_keras.optimizers.legacy.RMSprop(rate, rho=0.9, momentum=0.9, epsilon=1.0)
    return tf_keras.optimizers.legacy.SGD(rate, momentum=0.9)


class _EpochLog(tf_keras.callbacks.Callback):
    """One readable log line per epoch (KFP logs are line based; no progress-bar control characters)."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs
        self.started = self.epoch_started = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        figures = " ".join(f"{k}={v:.4f}" for k, v in sorted((logs or {}).items()))
        now = time.monotonic()
        log.info("epoch %d/%d %s (%.1fs; %.0fs elapsed)", epoch + 1, self.epochs, figures, now - self.epoch_started,
                 now - self.started)


def training_policy(config: PipelineConfig) -> str:
    """The Keras dtype policy to train with (see `mixed_precision`)."""
    gpus = tf.config.list_logical_devices("GPU")
    policy = config.mixed_precision if config.mixed_precision != "auto" else (
        "mixed_float16" if gpus else "float32")
    if policy == "mixed_float16" and not gpus:
        raise TrainError("mixed_precision=mixed_float16 needs a GPU (TensorFlow has no float16 AvgPool3D kernel for "
                         "CPUs); use mixed_bfloat16, float32 or auto")
    return policy


@contextlib.contextmanager
def _dtype_policy(policy: str) -> Iterator[None]:
    """`policy` as Keras' global dtype policy for the block, the previous one restored after it."""
    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)


def _float32_copy(trained: tf_keras.Model, config: PipelineConfig, num_classes: int) -> tf_keras.Model:
    """The trained classifier rebuilt in float32 (external stream states and exported graphs need it)."""
    backbone = modeling.build_backbone(config.model_id, config.conv_type, config.norm_momentum, config.causal)
    copy = modeling.build_classifier(backbone, num_classes, config.n_frames, config.imgz)
    copy.set_weights(trained.get_weights())
    return copy


def _sparse_loss(label_smoothing: float, class_weights: list[float] | None = None):
    """Cross-entropy on integer labels; with `class_weights`, each clip's loss is scaled by its label's weight."""
    weights = tf.constant(class_weights, tf.float32) if class_weights else None

    def loss(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        logits = tf.cast(logits, tf.float32)  # float16/bfloat16 under a mixed policy
        indices = tf.cast(tf.reshape(labels, [-1]), tf.int32)
        one_hot = tf.one_hot(indices, tf.shape(logits)[-1])
        losses = tf_keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True,
                                                          label_smoothing=label_smoothing)
        return losses if weights is None else losses * tf.gather(weights, indices)

    return loss


def class_weights(label_counts: list[int]) -> list[float]:
    """Per-label loss weights n / (labels * n_label) (scikit-learn's "balanced"; 0 for a label without clips)."""
    total, present = sum(label_counts), sum(1 for count in label_counts if count)
    return [total / (present * count) if count else 0.0 for count in label_counts]


def _compile(classifier: tf_keras.Model, optimizer: tf_keras.optimizers.Optimizer, loss) -> None:
    """Compile `classifier` and create its optimizer's slots for the variables now trainable.

    Slots made before the first step spare a second trace of the train step: a `tf.function` whose first call
    creates variables is traced again without them (~10 s for MoViNet-A0 on a CPU, as long as the first trace).
    A frozen backbone gets no slots until it is unfrozen and compiled again.
    """
    classifier.compile(optimizer=optimizer, loss=loss,
                       metrics=[tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    # Keras' own way to make a legacy optimizer's slots ahead of time (it does so when loading an HDF5 model);
    # `classifier.optimizer` is the loss-scale wrapper under mixed_float16, which passes the call on.
    classifier.optimizer._create_all_weights(classifier.trainable_variables)


class _EarlyStopping(tf_keras.callbacks.EarlyStopping):
    """Stop when validation accuracy has not improved for `patience` epochs, counting the epochs already logged.

    The count starts from the CSV history, so a resumed run (or the fine-tuning after a head-only warm-up) continues
    it; the best epoch's weights are restored from `checkpoints/best` after training either way.
    """

    def __init__(self, patience: int, history_csv: Path) -> None:
        super().__init__(monitor="val_accuracy", mode="max", patience=patience)
        self.history_csv = history_csv

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        logged = _read_history(self.history_csv).get("val_accuracy", [])
        if logged:
            best_at = max(range(len(logged)), key=logged.__getitem__)
            self.best, self.best_epoch, self.wait = logged[best_at], best_at, len(logged) - 1 - best_at

    def on_train_end(self, logs: dict | None = None) -> None:
        super().on_train_end(logs)
        if self.stopped_epoch:
            log.info("stopped early after epoch %d: validation accuracy has not improved for %d epoch(s) (best %.4f, "
                     "epoch %d)", self.stopped_epoch + 1, self.wait, self.best, self.best_epoch + 1)


def _weights_checkpoint(variables: list[tf.Variable]) -> tf.train.Checkpoint:
    """A checkpoint of `variables` alone, by position (no optimizer slots, no Keras object graph).

    Pass a model's `weights` as listed while all of it is trainable: Keras lists trainable variables first, so
    freezing the backbone reorders `weights`.
    """
    return tf.train.Checkpoint(weights=variables)


def _check_best_weights(prefix: Path, variables: list[tf.Variable]) -> None:
    """TrainError when the best weights already at `prefix` (a run being resumed) are not `variables`' checkpoint."""
    if not Path(f"{prefix}.index").exists():
        return
    stored = tf.train.load_checkpoint(str(prefix)).get_variable_to_shape_map()
    expected = {f"weights/{index}/.ATTRIBUTES/VARIABLE_VALUE": variable.shape.as_list()
                for index, variable in enumerate(variables)}
    if {key: stored.get(key) for key in expected} != expected:
        raise TrainError(f"{prefix} holds another model's weights (a different model_id, conv_type or labels, or a "
                         "checkpoint from an earlier version of this trainer), so this run cannot resume there: "
                         f"train into a new output folder, or delete {prefix.parent.parent} to start afresh")


class _BestWeights(tf_keras.callbacks.Callback):
    """Write `variables` (the model's) to `prefix` at the end of each epoch that beats the best validation accuracy.

    The variables alone: a third of the bytes of Keras' `ModelCheckpoint`, which saves the optimizer slots too, and
    ~0.15 s per save instead of ~0.6 s for MoViNet-A0 (it walks the whole Keras object graph each time).
    `best_so_far`: the best validation accuracy already logged (a resumed run must beat it).
    """

    def __init__(self, variables: list[tf.Variable], prefix: Path, best_so_far: float | None) -> None:
        super().__init__()
        self.checkpoint, self.prefix = _weights_checkpoint(variables), prefix
        self.best = -math.inf if best_so_far is None else best_so_far

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        score = (logs or {}).get("val_accuracy")
        if score is not None and score > self.best:
            self.best = score
            self.checkpoint.write(str(self.prefix))


def _train_head_only(classifier: tf_keras.Model, backbone: tf_keras.Model, compile_model: Callable[[], None],
                     config: PipelineConfig, epochs_done: int, folders: _Folders, strategy, fit: dict) -> int:
    """Train the new head on a frozen backbone first.

    The `freeze_backbone_epochs` warm-up: train the head with the backbone frozen (its batch norm in inference
    mode); keep its result in `checkpoints/head_only` so a run preempted after it resumes from there. Return how
    many epochs it covered.
    """
    epochs = config.freeze_backbone_epochs
    if not epochs:
        return 0
    saved = folders.shared.checkpoints / "head_only" / "weights"
    if epochs_done >= epochs and Path(f"{saved}.index").exists():
        # the second phase's own backup, if any, restores over this
        classifier.load_weights(str(saved)).expect_partial()
        return epochs
    backbone.trainable = False
    with strategy.scope():
        compile_model()
    log.info("training the head only (backbone frozen) for %d epoch(s)", epochs)
    classifier.fit(epochs=epochs, **fit)
    classifier.save_weights(str(folders.own.checkpoints / "head_only" / "weights"))
    return epochs


@dataclass(frozen=True)
class _Folders:
    """Where training state is read back from, and where this worker writes.

    `shared`: the user's model folder (the chief writes it; every worker reads its training state back); `own`:
    this worker's (the same on the chief, a private temporary folder on other workers).
    """

    shared: layouts.ModelFolder
    own: layouts.ModelFolder


def _barrier(strategy: tf.distribute.Strategy) -> None:
    """Wait until every worker gets here (a collective op), e.g. until the chief has written its checkpoints."""
    strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), axis=None)


def _fit(config: PipelineConfig, labels: list[str], label_counts: list[int], steps: int | None,
         train_data: tf.data.Dataset,
         validation_data: tf.data.Dataset, validation_steps: int | None, strategy: tf.distribute.Strategy,
         folders: _Folders) -> tuple[tf_keras.Model, str, float]:
    """Build the classifier on its pretrained backbone and train it.

    Build the classifier on its pretrained backbone and train it (resumably); return it with its best epoch's
    weights, where the backbone came from, and the seconds building and training it took.
    """
    started = time.monotonic()
    with strategy.scope():
        backbone, pretrained = modeling.pretrained_backbone(config)
        classifier = modeling.build_classifier(backbone, len(labels), config.n_frames, config.imgz)
        optimizer = _optimizer(config, steps)
    variables = list(classifier.weights)  # their order while all trainable (see _weights_checkpoint)
    checkpoints = folders.shared.checkpoints
    best_weights = "best/weights"  # under the checkpoints folder: a TF checkpoint, restorable under any strategy
    done = _read_history(checkpoints / layouts.HISTORY_CSV)
    best_so_far = max(done.get("val_accuracy", [None]) or [None])
    _check_best_weights(checkpoints / best_weights, variables)
    folders.own.checkpoints.mkdir(parents=True, exist_ok=True)
    save_freq = backup_frequency(steps, config.backup_steps)
    resume_point = _resume_point(checkpoints / "backup", save_freq, steps)
    if resume_point:
        log.info("resuming %s of %d from the backup in %s", resume_point, config.num_epochs, checkpoints)
    callbacks = [  # Keras sends a non-chief worker's backups and logs to temporary folders
        tf_keras.callbacks.BackupAndRestore(str(checkpoints / "backup"), save_freq=save_freq),
        _BestWeights(variables, folders.own.checkpoints / best_weights, best_so_far),
        tf_keras.callbacks.TensorBoard(str(folders.shared.tensorboard)),
        tf_keras.callbacks.CSVLogger(str(folders.own.checkpoints / layouts.HISTORY_CSV), append=True),
        _EpochLog(config.num_epochs),
    ]
    if config.early_stopping_patience:
        callbacks.append(_EarlyStopping(config.early_stopping_patience, checkpoints / layouts.HISTORY_CSV))
    log.info("training MoViNet-%s (base) on %d labels: %d epochs (%d with the backbone frozen), batch %d, %d frames "
             "at %dx%d, lr %g, %s; pretrained: %s", config.model_id.upper(), len(labels), config.num_epochs,
             config.freeze_backbone_epochs, config.batch_size, config.n_frames, config.imgz, config.imgz,
             config.learning_rate, tf_keras.mixed_precision.global_policy().name, pretrained)
    fit = dict(x=train_data, validation_data=validation_data, steps_per_epoch=steps, callbacks=callbacks, verbose=0,
               validation_steps=validation_steps)
    compile_model = functools.partial(_compile, classifier, optimizer, _sparse_loss(
        config.label_smoothing, class_weights(label_counts) if config.class_balance == "weights" else None))
    head_only = _train_head_only(classifier, backbone, compile_model, config, len(done.get("epoch", [])), folders,
                                 strategy, fit)
    if head_only < config.num_epochs:
        backbone.trainable = True
        with strategy.scope():
            compile_model()
        classifier.fit(epochs=config.num_epochs, initial_epoch=head_only, **fit)
    seconds = time.monotonic() - started
    _barrier(strategy)  # the chief's last checkpoints are written
    classifier.save_weights(str(folders.own.checkpoints / "last" / "weights"))  # the model exported is the best's
    if Path(f"{checkpoints / best_weights}.index").exists():
        _weights_checkpoint(variables).read(str(checkpoints / best_weights)).assert_consumed()
    return classifier, pretrained, seconds


def train(examples_dir: str | Path, output_dir: str | Path, config: PipelineConfig) -> TrainSummary:
    """Fine-tune on `examples_dir/train`, select the best epoch on `validation`, save the model contract.

    In a cluster (`TF_CONFIG`, see `cluster.py`) every worker runs this; only the chief writes `output_dir`.
    """
    cluster = cluster_module.from_environment()
    strategy = cluster.strategy()  # first: a multi-worker strategy must exist before any other TensorFlow op
    if config.model_mode != "base":
        raise TrainError("training is base mode only (model_mode=stream is for inference); set model_mode=base")
    policy = training_policy(config)
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise TrainError(f"batch_size={config.batch_size} is the global batch: it must be a multiple of the "
                         f"{replicas} replicas training")
    examples_dir, output_dir = Path(examples_dir), Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    folders = _Folders(layouts.ModelFolder(output_dir), layouts.ModelFolder(cluster.output_root(output_dir)))
    labels = layouts.read_labels(examples_dir)
    tf_keras.utils.set_random_seed(config.seed)
    # A known epoch length over an endless training set lets a preempted run resume mid-epoch.
    steps = _steps_per_epoch(examples_dir, config)
    label_counts = _label_counts(examples_dir, labels, config)
    train_data = _dataset(strategy, cluster, examples_dir, "train", config, training=True, repeat=bool(steps),
                          balance=label_counts if config.class_balance == "sampling" else None)
    validation_data = _dataset(strategy, cluster, examples_dir, "validation", config, training=False)
    log.info("training on %d replica(s) in %d worker(s) (this is %s %d%s): global batch %d = %d per replica, peak "
             "learning rate %g for the global batch; devices here: %s", replicas, cluster.workers, cluster.task_type,
             cluster.task_index, ", the chief" if cluster.is_chief else "", config.batch_size,
             config.batch_size // replicas, config.learning_rate, _devices(strategy))
    with _dtype_policy(policy):
        classifier, pretrained, seconds = _fit(config, labels, label_counts, steps, train_data, validation_data,
                                               _validation_steps(examples_dir, config, cluster), strategy, folders)
    if policy != "float32" or cluster.is_multi_worker:  # a plain float32 copy: local variables, no collectives
        classifier = _float32_copy(classifier, config, len(labels))
    summary = _save_outputs(classifier, config, labels, folders.own, pretrained, seconds, examples_dir)
    if config.temperature_scaling or config.target_precision:
        _calibration(classifier, examples_dir, config, labels).write(folders.own.root)
    return summary


def _calibration(classifier: tf_keras.Model, examples_dir: Path, config: PipelineConfig,
                 labels: list[str]) -> Calibration:
    """The temperature and per-label thresholds fitted on the validation clips (centre windows, as evaluation)."""
    truth, logits = [], []
    for frames, batch_labels in data.clip_dataset(examples_dir, "validation", config.n_frames, config.imgz,
                                                  config.batch_size, training=False):
        logits.append(classifier(frames, training=False).numpy())
        truth.append(batch_labels.numpy())
    fitted = calibrate(np.concatenate(logits), np.concatenate(truth), labels, config.temperature_scaling,
                       config.target_precision, "validation")
    log.info("calibration on %d validation clips: temperature %.3f, expected calibration error %.4f -> %.4f%s",
             fitted.clips, fitted.temperature, fitted.ece_before, fitted.ece_after,
             f"; thresholds for precision {config.target_precision:g}: {fitted.thresholds}" if fitted.thresholds
             else "")
    return fitted


def _devices(strategy: tf.distribute.Strategy) -> str:
    """The devices this worker trains on (TensorFlow's default strategy: its one GPU, else the CPU)."""
    try:
        names = strategy.extended.worker_devices
    except RuntimeError:  # the default strategy has no device list
        names = [device.name for device in (tf.config.list_logical_devices("GPU")
                                            or tf.config.list_logical_devices("CPU"))[:1]]
    return ", ".join(name.split("/")[-1] for name in names)


def _dataset(strategy: tf.distribute.Strategy, cluster: cluster_module.Cluster, examples_dir: Path, subset: str,
             config: PipelineConfig, training: bool, repeat: bool = False, balance: list[int] | None = None):
    """One subset's batches: global batches on one worker; per-replica shards of them across workers."""

    def make(context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
        return data.clip_dataset(examples_dir, subset, config.n_frames, config.imgz, config.batch_size,
                                 training=training, flip=training and config.random_flip, seed=config.seed,
                                 repeat=repeat, input_context=context, balance=balance)

    return strategy.distribute_datasets_from_function(make) if cluster.is_multi_worker else make()


# Training clips whose frames (with their stream states) calibrate the int8 TFLite stream model.
INT8_CALIBRATION_CLIPS = 16


def _save_outputs(classifier: tf_keras.Model, config: PipelineConfig, labels: list[str], folder: layouts.ModelFolder,
                  pretrained: str, seconds: float, examples_dir: Path) -> TrainSummary:
    """Write the model contract into `folder` and summarise the run."""
    history = _read_history(folder.checkpoints / layouts.HISTORY_CSV)
    classifier.save_weights(str(folder.weights(config.weights_filename)))
    modeling.export_saved_model(classifier, folder.saved_model)
    if config.causal:
        calibration_clips = (frames[0] for frames, _ in data.clip_dataset(
            examples_dir, "train", config.n_frames, config.imgz, 1, training=False).take(INT8_CALIBRATION_CLIPS))
        export_stream(classifier, config, len(labels), folder.root, calibration_clips)
    layouts.write_labels(folder.root, labels)
    write_config(config, folder.config)
    folder.history.write_text(json.dumps(history, indent=2) + "\n")
    summary = history_summary(folder.root)
    log.info("trained in %.0fs; best validation accuracy %.3f; model -> %s", seconds, summary["best_val_accuracy"],
             folder.root)
    return TrainSummary(summary["epochs"], summary["best_val_accuracy"], pretrained, seconds)


def history_summary(model_dir: str | Path) -> dict:
    """Epochs trained and the best validation accuracy, from a model folder's `history.json`."""
    history = json.loads(layouts.ModelFolder(model_dir).history.read_text())
    return {"epochs": len(history.get("epoch", [])), "best_val_accuracy": max(history.get("val_accuracy", [0.0]))}


def _clips(examples_dir: Path, subset: str) -> int | None:
    """The subset's clips, from `stats.json` (None when the examples have no stats)."""
    stats_path = examples_dir / layouts.STATS
    if not stats_path.exists():
        return None
    return sum(json.loads(stats_path.read_text())["clips_per_subset_label"].get(subset, {}).values())


def _label_counts(examples_dir: Path, labels: list[str], config: PipelineConfig) -> list[int]:
    """Training clips per label index, from `stats.json` ([] without stats; `class_balance` needs them)."""
    stats_path = examples_dir / layouts.STATS
    if not stats_path.exists():
        if config.class_balance != "none":
            raise TrainError(f"class_balance={config.class_balance} needs the clips per label of {stats_path}, "
                             "which is missing: rebuild the examples with build_tfrecords")
        return []
    per_label = json.loads(stats_path.read_text())["clips_per_subset_label"].get("train", {})
    counts = [int(per_label.get(label, 0)) for label in labels]
    if config.class_balance != "none":
        log.info("class_balance=%s over training clips per label %s", config.class_balance,
                 dict(zip(labels, counts, strict=True)))
    return counts


def _steps_per_epoch(examples_dir: Path, config: PipelineConfig) -> int | None:
    """Batches per pass over the training clips (None when the examples have no stats)."""
    train_clips = _clips(examples_dir, "train")
    return None if train_clips is None else max(1, -(-train_clips // config.batch_size))


def _validation_steps(examples_dir: Path, config: PipelineConfig, cluster: cluster_module.Cluster) -> int | None:
    """Validation batches per worker across a cluster (its largest share of the clips), else None (to the end)."""
    clips = _clips(examples_dir, "validation") if cluster.is_multi_worker else None
    if clips is None:
        return None
    share, per_worker_batch = -(-clips // cluster.workers), config.batch_size // cluster.workers
    return max(1, -(-share // per_worker_batch))


def _read_history(csv_path: Path) -> dict[str, list[float]]:
    """Per-epoch metrics from the CSV log (it spans restarts, unlike keras' in-memory History)."""
    lines = csv_path.read_text().splitlines() if csv_path.exists() else []
    if not lines:
        return {}
    keys = lines[0].split(",")
    rows: dict[int, list[str]] = {}
    for line in lines[1:]:
        if line and not line.startswith("epoch"):
            values = line.split(",")
            rows[int(values[0])] = values  # a resumed epoch replaces the interrupted one
    return {key: [float(rows[e][i]) for e in sorted(rows)] for i, key in enumerate(keys)}

"""The one typed, validated configuration shared by the CLI, the pipeline, the components and the registry.

Precedence: built-in defaults < profile < config file < flags (see `resolve_config`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

MODEL_IDS = ("a0", "a1", "a2", "a3", "a4", "a5")
# Channels of each backbone's pooled features, the embedding size (Model Garden's HeadSpec project_filters).
EMBEDDING_SIZES = {"a0": 480, "a1": 600, "a2": 640, "a3": 744, "a4": 856, "a5": 992}
MODEL_MODES = ("base", "stream")
HUB_VERSIONS = (1, 2, 3)
SAMPLINGS = ("uniform", "stride")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
LR_SCHEDULES = ("cosine", "constant")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
CONV_TYPES = ("3d", "2plus1d", "3d_2plus1d")
VIDEO_DOWNLOADS = ("auto", "export", "workers")
CLASS_BALANCES = ("none", "weights", "sampling")
STREAM_MODELS = ("savedmodel", "float32", "float16", "int8")  # float32 / float16 / int8: the TFLite stream models
# The keys the export step reads (make_config hands them over as `export_options`, so the export's cache key
# does not change with training settings).
EXPORT_KEYS = ("include_model_annotations", "cache_root", "video_download")
# The keys that shape the stored clips (the clip cache's sampling options, examples.clip_cache.SamplingOptions): an
# export with a cache_root needs them to tell which videos' clips are cached.
SAMPLING_KEYS = ("n_frames", "record_frames", "imgz", "record_short_side", "sampling", "frame_step", "jpeg_quality",
                 "train_clips_per_video")
# The keys Dataloop's MoViNet users already know; the pipeline exposes them as parameters by name.
SEED_KEYS = ("hub_version", "model_id", "model_mode", "imgz", "batch_size", "num_epochs", "n_frames", "top_k",
             "learning_rate")
# Every configuration key that is a run parameter by name (the others travel in `extra_config`).
PARAMETER_KEYS = (*SEED_KEYS, "cache_root")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key, the value and what is allowed."""


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Every setting of a run. The first nine keys are the ones Dataloop's MoViNet users already know."""

    hub_version: int = 3
    model_id: str = "a0"
    model_mode: str = "base"
    imgz: int = 224
    batch_size: int = 2
    num_epochs: int = 8
    n_frames: int = 13
    top_k: int = 3
    learning_rate: float = 0.001
    # ours
    seed: int = 42
    sampling: str = "uniform"
    frame_step: int = 2
    train_clips_per_video: int = 1
    record_frames: int = 0
    record_short_side: int = 0
    jpeg_quality: int = 90
    num_shards: int = 2
    pretrained: str = "auto"
    conv_type: str = "3d"
    causal: bool = False
    norm_momentum: float = 0.99
    optimizer: str = "adam"
    lr_schedule: str = "cosine"
    mixed_precision: str = "auto"
    warmup_epochs: float = 0.0
    freeze_backbone_epochs: int = 0
    backup_steps: int = 100
    early_stopping_patience: int = 0
    class_balance: str = "none"
    temperature_scaling: bool = False
    target_precision: float = 0.0
    label_smoothing: float = 0.1
    random_flip: bool = True
    min_accuracy: float = 0.0
    min_improvement: float = 0.0
    eval_clips: int = 1
    segment_seconds: float = 0.0
    stream_model: str = "savedmodel"
    min_segment_seconds: float = 0.0
    weights_filename: str = "model.weights.h5"
    include_model_annotations: bool = False
    max_skipped_fraction: float = 0.05
    cache_root: str = ""
    video_download: str = "auto"

    def __post_init__(self) -> None:
        validate(self)

    @property
    def frames_per_record(self) -> int:
        """Frames stored per clip: more than `n_frames`, so training can jitter in time."""
        return self.record_frames or 2 * self.n_frames

    @property
    def short_side(self) -> int:
        """Short side of stored frames: larger than `imgz`, so training can crop in space."""
        return self.record_short_side or round(self.imgz * 8 / 7)

    def to_dict(self) -> dict[str, Any]:
        """Every key and value."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> PipelineConfig:
        """A validated copy with `changes`."""
        return from_mapping({**self.to_dict(), **changes})


KEY_HELP: dict[str, str] = {
    "hub_version": "TF Hub version of the pretrained MoViNet (Kinetics-600): 1, 2 or 3.",
    "model_id": "MoViNet architecture, a0 (smallest, fastest) to a5 (largest).",
    "model_mode": "Serving mode the model is registered for: base or stream. Training is always base mode.",
    "imgz": "Square input resolution (pixels) the model trains and predicts at.",
    "batch_size": "Global training batch size (across all replicas).",
    "num_epochs": "Training epochs.",
    "n_frames": "Frames per clip fed to the model.",
    "top_k": "How many top labels evaluation and prediction report.",
    "learning_rate": "Peak learning rate.",
    "seed": "Seed for sampling, shuffling and initialisation.",
    "sampling": "Frame sampling: uniform (spread over the clip) or stride (every frame_step-th frame).",
    "frame_step": "Frame step for stride sampling.",
    "train_clips_per_video": "Temporal clips per training video with stride sampling (augmentation).",
    "record_frames": "Frames stored per clip in the TFRecords; 0 means 2 x n_frames.",
    "record_short_side": "Short side (pixels) of stored frames; 0 means 8/7 x imgz (rounded up to even: JPEG 4:2:0).",
    "jpeg_quality": "JPEG quality (1-100) of stored frames.",
    "num_shards": "TFRecord shards per subset.",
    "pretrained": "Pretrained start: auto (Model Garden's Kinetics-600 checkpoint if reachable, else the TF Hub "
    "model if TF Hub's cache has it, else from scratch), hub (the TF Hub model named by hub_version / model_id), a "
    "TF Hub handle, none, or a checkpoint (prefix, directory or .tar.gz; local or gs://).",
    "conv_type": "MoViNet convolutions: 3d (Model Garden's base; pretrained checkpoints; its depthwise convolutions "
    "computed by taps on CPU), 2plus1d (on CPU 1.2-1.6x faster to serve, 2.2x faster to train) or 3d_2plus1d.",
    "causal": "Causal backbone, trained in base mode; the model then also gets a stream SavedModel (stream/) "
    "for frame-by-frame inference (the adapter's stream mode) and TFLite stream models (float32, float16, "
    "int8).",
    "norm_momentum": "Batch-norm moving-average momentum (0.99 as Model Garden; lower for short runs).",
    "optimizer": "Optimizer: adam, rmsprop or sgd.",
    "lr_schedule": "Learning-rate schedule: cosine (decay to 0 over the run, as Model Garden's recipe) or constant.",
    "mixed_precision": "Training precision: auto (mixed_float16 when a GPU is visible, else float32), float32, "
    "mixed_float16 (GPU only) or mixed_bfloat16. Models are always exported in float32.",
    "warmup_epochs": "Epochs of linear learning-rate warm-up before the cosine decay (fractions allowed).",
    "freeze_backbone_epochs": "First epochs that train the new head only, the backbone frozen (its batch norm in "
    "inference mode); = num_epochs trains the head only, as Model Garden's fine-tuning tutorial.",
    "backup_steps": "Preemption backups of the training state at least this many steps apart: twice per epoch "
    "when that is as far, else at the end of every epoch that gets this far (0: every epoch). A restarted run "
    "resumes from the last backup.",
    "early_stopping_patience": "Stop training when validation accuracy has not improved for this many epochs (0: "
    "never); the model kept is the best epoch's either way.",
    "class_balance": "Imbalanced labels: none, weights (each training clip's loss weighted by n_clips / (n_labels * "
    "clips of its label)) or sampling (training clips resampled to equal label frequencies).",
    "temperature_scaling": "Fit a temperature on the validation clips after training (calibration.json): the "
    "adapter and evaluation report softmax(logits / T), so confidences match accuracy.",
    "target_precision": "Per-label confidence thresholds chosen on the validation clips so each label's predictions "
    "above its threshold reach this precision (0: none); the adapter leaves out predictions below them.",
    "label_smoothing": "Label smoothing of the training loss (0 to <1).",
    "random_flip": "Random horizontal flips in training (turn off when left/right matters).",
    "min_accuracy": "Evaluation gate: minimum top-1 accuracy to register (the model must also beat chance).",
    "eval_clips": "Evaluation: temporal windows per clip, spread over its stored frames (record_frames), whose "
    "probabilities are averaged (Model Garden's multi-clip evaluation); 1 = the centre window.",
    "segment_seconds": "Temporal predictions (adapter): label each window of this many seconds and emit one class "
    "annotation per run of windows with the same top label, over its frame range (0: one prediction per video).",
    "stream_model": "Which stream model the adapter serves in stream mode: savedmodel (the stream SavedModel), or "
    "the TFLite stream model in float32, float16 or int8 (smaller and faster on edge CPUs; evaluation's report "
    "measures each one's accuracy change, size and per-frame latency).",
    "min_segment_seconds": "Temporal predictions: a run of windows shorter than this joins the neighbour its "
    "windows found likelier (0: every run stands).",
    "min_improvement": "Evaluation gate with a baseline: minimum change of top-1 against it on the same clips "
    "(0: not worse; negative: a tolerated regression).",
    "weights_filename": "File name of the tf_keras weights file in the model artifacts.",
    "max_skipped_fraction": "Loss budget: the TFRecord step fails when more than this fraction of the labelled "
                            "items and clips was lost (unreadable, undecodable, unsafe name, bad frame range).",
    "cache_root": "Persistent clip cache shared by runs (a folder or gs://; empty: none): only new or changed "
                  "items are downloaded and encoded, the others' stored frames are reused.",
    "video_download": "Who fetches the videos of a Dataloop dataset or a download folder: export (the export step, "
                      "into one folder), workers (the Beam workers, in parallel, from Dataloop or reading the folder "
                      "in place; the export writes the manifest and annotations only) or auto (workers with a remote "
                      "Beam runner and a Dataloop or gs:// source, else export).",
    "include_model_annotations": "Export: also train on class annotations a model made (metadata.user.model, e.g. "
                                 "the deployed adapter's predictions); only once people have reviewed them.",
}

_POSITIVE_INTS = ("imgz", "batch_size", "num_epochs", "n_frames", "top_k", "frame_step", "num_shards",
                  "train_clips_per_video", "eval_clips")
_NON_NEGATIVE_INTS = ("record_frames", "record_short_side", "seed", "freeze_backbone_epochs", "backup_steps",
                      "early_stopping_patience")
_CHOICES: dict[str, tuple[Any, ...]] = {
    "model_id": MODEL_IDS,
    "model_mode": MODEL_MODES,
    "hub_version": HUB_VERSIONS,
    "sampling": SAMPLINGS,
    "optimizer": OPTIMIZERS,
    "lr_schedule": LR_SCHEDULES,
    "mixed_precision": PRECISIONS,
    "conv_type": CONV_TYPES,
    "video_download": VIDEO_DOWNLOADS,
    "class_balance": CLASS_BALANCES,
    "stream_model": STREAM_MODELS,
}


def _fail(key: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"invalid {key}={value!r}: {allowed}")


def validate(config: PipelineConfig) -> None:
    """Raise ConfigError naming the first key whose value is not allowed."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        expected = {"int": int, "float": (int, float), "str": str, "bool": bool}[str(field.type)]
        if isinstance(value, bool) and field.type != "bool" or not isinstance(value, expected):
            _fail(field.name, value, f"expected a {field.type}")
    for key, allowed in _CHOICES.items():
        if getattr(config, key) not in allowed:
            _fail(key, getattr(config, key), "allowed: " + ", ".join(map(str, allowed)))
    for key in _POSITIVE_INTS:
        if getattr(config, key) < 1:
            _fail(key, getattr(config, key), "must be >= 1")
    for key in _NON_NEGATIVE_INTS:
        if getattr(config, key) < 0:
            _fail(key, getattr(config, key), "must be >= 0")
    if config.imgz < 32:
        _fail("imgz", config.imgz, "must be >= 32 (MoViNet downsamples 32x)")
    if not 0 < config.learning_rate <= 10:
        _fail("learning_rate", config.learning_rate, "must be in (0, 10]")
    if not 1 <= config.jpeg_quality <= 100:
        _fail("jpeg_quality", config.jpeg_quality, "must be in 1..100")
    if not 0 <= config.label_smoothing < 1:
        _fail("label_smoothing", config.label_smoothing, "must be in [0, 1)")
    if config.train_clips_per_video > 1 and config.sampling != "stride":
        _fail("train_clips_per_video", config.train_clips_per_video, "more than 1 needs sampling=stride")
    if not 0 < config.norm_momentum < 1:
        _fail("norm_momentum", config.norm_momentum, "must be in (0, 1)")
    if not 0 <= config.warmup_epochs < config.num_epochs:
        _fail("warmup_epochs", config.warmup_epochs, f"must be in [0, num_epochs={config.num_epochs})")
    if config.warmup_epochs and config.lr_schedule == "constant":
        _fail("warmup_epochs", config.warmup_epochs,
              "does nothing under lr_schedule=constant: set lr_schedule=cosine, or warmup_epochs=0")
    if config.eval_clips > 1 and config.frames_per_record == config.n_frames:
        _fail("eval_clips", config.eval_clips, f"more than 1 does nothing when record_frames = n_frames "
              f"({config.n_frames}): every window would be the same clip; store more frames (record_frames 0 = 2 x "
              "n_frames) or set eval_clips=1")
    if config.freeze_backbone_epochs > config.num_epochs:
        _fail("freeze_backbone_epochs", config.freeze_backbone_epochs, f"must be <= num_epochs ({config.num_epochs})")
    if not 0 <= config.target_precision <= 1:
        _fail("target_precision", config.target_precision, "must be in [0, 1] (0: no thresholds)")
    if not 0 <= config.max_skipped_fraction <= 1:
        _fail("max_skipped_fraction", config.max_skipped_fraction, "must be in [0, 1]")
    if not 0 <= config.min_accuracy <= 1:
        _fail("min_accuracy", config.min_accuracy, "must be in [0, 1]")
    if not -1 <= config.min_improvement <= 1:
        _fail("min_improvement", config.min_improvement, "must be in [-1, 1]")
    if config.segment_seconds < 0:
        _fail("segment_seconds", config.segment_seconds, "must be >= 0 (0: one prediction per video)")
    if config.min_segment_seconds < 0 or config.min_segment_seconds and not config.segment_seconds:
        _fail("min_segment_seconds", config.min_segment_seconds, "must be >= 0, and needs segment_seconds > 0")
    if config.record_frames and config.record_frames < config.n_frames:
        _fail("record_frames", config.record_frames, f"must be 0 or >= n_frames ({config.n_frames})")
    if config.record_short_side and config.record_short_side < config.imgz:
        _fail("record_short_side", config.record_short_side, f"must be 0 or >= imgz ({config.imgz})")
    if not config.weights_filename.endswith(".h5") or "/" in config.weights_filename:
        _fail("weights_filename", config.weights_filename, "must be a plain file name ending in .h5")


def _coerce(key: str, value: Any) -> Any:
    """Turn strings from flags or YAML into the field's type; leave other values for `validate`."""
    field_type = {f.name: f.type for f in dataclasses.fields(PipelineConfig)}[key]
    if not isinstance(value, str):
        if field_type == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value
    try:
        if field_type == "int":
            return int(value)
        if field_type == "float":
            return float(value)
    except ValueError:
        _fail(key, value, f"expected a {field_type}")
    if field_type == "bool":
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        _fail(key, value, "expected true or false")
    return value


def from_mapping(values: Mapping[str, Any]) -> PipelineConfig:
    """Build a config from a mapping, rejecting unknown keys by name."""
    known = {f.name for f in dataclasses.fields(PipelineConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown configuration key(s): {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
    return PipelineConfig(**{key: _coerce(key, value) for key, value in values.items()})


# The CPU profile: sized so the bundled sample trains to well above chance on 2 CPU cores in minutes.
# (2+1)D convolutions train 2.2x faster than 3D ones on CPU, even with the fast 3D operations (benchmarks/RESULTS.md);
# a short run needs faster batch-norm statistics.
PROFILES: dict[str, dict[str, Any]] = {
    "cpu-sample": {
        "imgz": 48,
        "n_frames": 8,
        "batch_size": 8,
        "num_epochs": 30,
        "learning_rate": 0.001,
        "conv_type": "2plus1d",
        "norm_momentum": 0.9,
        "random_flip": False,
        "label_smoothing": 0.0,
    },
}


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON mapping of configuration keys."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    try:
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"config file {path} is not valid JSON: {error.msg} at line {error.lineno}, column "
                          f"{error.colno}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML: {getattr(error, 'problem', None) or error}{where}"
                          ) from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values, got {type(values).__name__}")
    return values


def resolve_config(
    profile: str | None = None,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> PipelineConfig:
    """Defaults < profile < config file < overrides (flags)."""
    values: dict[str, Any] = {}
    if profile:
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
        values.update(PROFILES[profile])
    if config_file:
        values.update(load_config_file(config_file))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return from_mapping(values)


def write_config(config: PipelineConfig, path: str | Path) -> None:
    """Write `config` as JSON (config.json)."""
    Path(path).write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")


def read_config(path: str | Path) -> PipelineConfig:
    """Read and validate a config.json."""
    return from_mapping(json.loads(Path(path).read_text()))

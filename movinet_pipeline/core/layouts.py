"""The data contracts between steps: every file name, the typed folder layouts, and their small readers/writers.

This module is the one place that names a file another step reads. The folders (see the README's architecture
section for who writes and who reads each):

- exported dataset (`ExportedDataset`): a Dataloop download folder (`items/`, `json/`) plus `manifest.jsonl`,
  `labels.json`, `errors.jsonl`, `export.json`;
- examples (`Examples`): `<subset>/clips-SSSSS-of-NNNNN.tfrecord`, `labels.json`, `errors.jsonl`, `stats.json`,
  `contact_sheet.html`;
- model (`ModelFolder`): the weights file, `saved_model/`, `stream/` and `stream.tflite` (causal models),
  `labels.json`, `config.json`, `history.json`, `logs/` (TensorBoard), `checkpoints/`;
- evaluation (`Evaluation`): `metrics.json`, `verdict.json`, `report.html`;
- registered model (`RegisteredModel`, a local registry entry): `model.json` and `artifacts/`; the register step
  also writes `registered.json` (what was registered where);
- baseline (`BASELINE_REFERENCE` beside a model folder): which model the resolve_baseline step fetched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.item_paths import item_relative_path

SUBSETS = ("train", "validation", "test")
# exported dataset
MANIFEST = "manifest.jsonl"
LABELS = "labels.json"  # also in examples and model folders: label names, position = class index
ERRORS = "errors.jsonl"  # also in examples: dead letters (ErrorEntry rows)
EXPORT_INFO = "export.json"
ITEMS = "items"
ITEM_JSON = "json"
# examples
STATS = "stats.json"
RECORD_SUFFIX = ".tfrecord"
SHARD_PREFIX = "clips"
CONTACT_SHEET = "contact_sheet.html"
# model
SAVED_MODEL = "saved_model"  # base-mode SavedModel folder
STREAM_MODEL = "stream"  # stream SavedModel folder (causal models)
SAVED_MODEL_PROTO = "saved_model.pb"  # TensorFlow's name, inside a SavedModel folder
STREAM_TFLITE = "stream.tflite"  # TFLite stream model, one frame per call (causal models)
TFLITE_PRECISIONS = ("float32", "float16", "int8")  # int8: integer-quantized, float inputs/states (fallback)


def stream_tflite_name(precision: str) -> str:
    """File name of the TFLite stream model at `precision`: stream.tflite (float32), stream_<precision>.tflite."""
    if precision not in TFLITE_PRECISIONS:
        raise ValueError(f"unknown TFLite precision {precision!r}; allowed: {', '.join(TFLITE_PRECISIONS)}")
    return STREAM_TFLITE if precision == "float32" else f"stream_{precision}.tflite"

CONFIG = "config.json"
HISTORY = "history.json"
MODEL_CARD = "model_card.md"  # evaluation and registered artifacts (core/model_card.py)
MODEL_CARD_FACTS = "model_card.json"  # what the card states, for register_model to render it with the lineage
CALIBRATION = "calibration.json"  # temperature and per-label thresholds (model/calibration.py)
TENSORBOARD = "logs"
CHECKPOINTS = "checkpoints"
HISTORY_CSV = "history.csv"  # per-epoch rows, inside checkpoints/ (survives a restart)
# evaluation
METRICS = "metrics.json"  # figures
VERDICT = "verdict.json"  # the gate's decision
REPORT = "report.html"
# registered model
MODEL_JSON = "model.json"
ARTIFACTS = "artifacts"
REGISTRATION_RECORD = "registered.json"
BASELINE_REFERENCE = "baseline.json"


@dataclass(frozen=True)
class ExportedDataset:
    """export_dataset's output; local or remote (`gs://`) for the Beam job that reads it."""

    root: str

    @property
    def manifest(self) -> str:
        return storage.join(self.root, MANIFEST)

    @property
    def labels(self) -> str:
        return storage.join(self.root, LABELS)

    @property
    def errors(self) -> str:
        return storage.join(self.root, ERRORS)

    @property
    def info(self) -> str:
        return storage.join(self.root, EXPORT_INFO)

    def video(self, relative: str) -> str:
        """A manifest entry's `video` (relative to the root) as a path or URI; UnsafeItemName if it would leave."""
        return storage.join(self.root, str(item_relative_path(relative)))


@dataclass(frozen=True)
class Examples:
    """build_tfrecords' output: TFRecord shards per subset and what describes them; local or remote."""

    root: str

    @property
    def stats(self) -> str:
        return storage.join(self.root, STATS)

    @property
    def errors(self) -> str:
        return storage.join(self.root, ERRORS)

    @property
    def contact_sheet(self) -> str:
        return storage.join(self.root, CONTACT_SHEET)

    def shard_prefix(self, subset: str) -> str:
        """What Beam's WriteToTFRecord takes (with `RECORD_SUFFIX`) for `subset`'s shards."""
        return storage.join(self.root, subset, SHARD_PREFIX)

    def record_files(self, subset: str) -> list[str]:
        """The subset's shards, sorted; empty when the subset has none."""
        return sorted(storage.glob(storage.join(self.root, subset, f"*{RECORD_SUFFIX}")))


@dataclass(frozen=True)
class ModelFolder:
    """train's output (the model contract), and what a registry entry's `artifacts/` holds."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))  # a KFP artifact's path is a str

    def weights(self, filename: str) -> Path:
        """The weights file named `filename` (config `weights_filename`)."""
        return self.root / filename

    @property
    def saved_model(self) -> Path:
        return self.root / SAVED_MODEL

    @property
    def stream_model(self) -> Path:
        return self.root / STREAM_MODEL

    @property
    def stream_tflite(self) -> Path:
        return self.root / STREAM_TFLITE

    @property
    def labels(self) -> Path:
        return self.root / LABELS

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def history(self) -> Path:
        return self.root / HISTORY

    @property
    def calibration(self) -> Path:
        return self.root / CALIBRATION

    @property
    def tensorboard(self) -> Path:
        return self.root / TENSORBOARD

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS

    def has_saved_model(self) -> bool:
        """Whether the folder holds a base-mode SavedModel."""
        return (self.saved_model / SAVED_MODEL_PROTO).is_file()

    def has_stream_model(self) -> bool:
        """Whether the folder holds a stream SavedModel (a causal model's)."""
        return (self.stream_model / SAVED_MODEL_PROTO).is_file()

    def artifact_files(self, weights_filename: str) -> list[Path]:
        """The files a registered model carries.

        The files a registered model carries (what the adapter needs to serve it): weights, labels,
        configuration, history, calibration, the base SavedModel and, for causal models, the stream SavedModel and
        TFLite models (float32, float16, int8).
        Training state (checkpoints, TensorBoard logs) stays behind.
        """
        singles = [self.weights(weights_filename), self.labels, self.config, self.history, self.calibration,
                   *(self.root / stream_tflite_name(precision) for precision in TFLITE_PRECISIONS)]
        files = [path for path in singles if path.is_file()]
        for folder in (self.saved_model, self.stream_model):
            files += sorted(path for path in folder.rglob("*") if path.is_file())
        return files


@dataclass(frozen=True)
class Evaluation:
    """evaluate's output."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))  # a KFP artifact's path is a str

    @property
    def metrics(self) -> Path:
        return self.root / METRICS

    @property
    def verdict(self) -> Path:
        return self.root / VERDICT

    @property
    def report(self) -> Path:
        return self.root / REPORT

    @property
    def model_card(self) -> Path:
        return self.root / MODEL_CARD

    @property
    def model_card_facts(self) -> Path:
        return self.root / MODEL_CARD_FACTS


@dataclass(frozen=True)
class RegisteredModel:
    """A local registry entry: the model JSON Dataloop would get, and the artifact files."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))  # a KFP artifact's path is a str

    @property
    def model_json(self) -> Path:
        return self.root / MODEL_JSON

    @property
    def artifacts(self) -> ModelFolder:
        return ModelFolder(self.root / ARTIFACTS)

    def is_entry(self) -> bool:
        """Whether the folder is a registry entry (has model.json)."""
        return self.model_json.is_file()


@dataclass(frozen=True)
class ManifestEntry:
    """One labelled clip of the exported dataset. `end_frame` is inclusive; None means to the end of the video."""

    item_id: str
    video: str  # relative to the export root
    label: str
    subset: str
    start_frame: int
    end_frame: int | None
    fps: float | None
    content_id: str = ""  # the video's content identity (the clip cache's key); "" = unknown, never cached


@dataclass(frozen=True)
class ErrorEntry:
    """A dead letter: an item a step could not use, and why.

    `lost`: it was meant as training or evaluation data (labelled, or unreadable) and counts against the loss
    budget; items that were never data for this task (not a video, unlabelled) are reported but not lost.
    """

    item: str
    reason: str
    step: str
    lost: bool = True


def write_jsonl(path: str | Path, rows: Iterable[object]) -> int:
    """Write `rows` (dataclasses) as JSON lines; return how many."""
    lines = [json.dumps(asdict(row), sort_keys=True) + "\n" for row in rows]  # type: ignore[call-overload]
    storage.write_text(path, "".join(lines))
    return len(lines)


def read_manifest(root: str | Path) -> Iterator[ManifestEntry]:
    """The manifest's entries, in order."""
    for line in storage.read_text(storage.join(root, MANIFEST)).splitlines():
        if line.strip():
            yield ManifestEntry(**json.loads(line))


def read_errors(path: str | Path) -> list[ErrorEntry]:
    """The dead letters in `path` (none when it does not exist)."""
    if not storage.exists(path):
        return []
    return [ErrorEntry(**json.loads(line)) for line in storage.read_text(path).splitlines() if line.strip()]


def write_labels(root: str | Path, labels: list[str]) -> None:
    """Write labels.json (position = class index)."""
    storage.write_text(storage.join(root, LABELS), json.dumps(labels, indent=2) + "\n")


def read_labels(root: str | Path) -> list[str]:
    """Read labels.json, saying which step's output is missing when it is."""
    path = storage.join(root, LABELS)
    if not storage.exists(path):
        raise FileNotFoundError(f"{path} is missing: is {root} the output of the previous step?")
    labels = json.loads(storage.read_text(path))
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"{path} must hold a JSON list of label names")
    return labels


def write_baseline_reference(folder: str | Path, reference: str) -> None:
    """Name the baseline fetched into `folder` ("" for none) for evaluate's verdict."""
    (Path(folder) / BASELINE_REFERENCE).write_text(json.dumps({"reference": reference}) + "\n")


def read_baseline_reference(folder: str | Path | None) -> str:
    """The baseline reference resolve_baseline wrote in `folder` ("" for none, or when there is no such folder)."""
    path = Path(folder) / BASELINE_REFERENCE if folder else None
    return json.loads(path.read_text())["reference"] if path and path.is_file() else ""


def write_registration_record(folder: str | Path, record: dict) -> None:
    """What register_model registered where ({registry, name, model_id | folder}), as `registered.json`."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / REGISTRATION_RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def read_export_info(root: str | Path) -> dict:
    """An exported dataset's `export.json` (source, dataset id, fingerprint, ...); {} when it has none."""
    path = ExportedDataset(str(root)).info
    return json.loads(storage.read_text(path)) if storage.exists(path) else {}


def read_registration_record(folder: str | Path) -> dict | None:
    """The record register_model wrote in `folder`, or None."""
    path = Path(folder) / REGISTRATION_RECORD
    return json.loads(path.read_text()) if path.is_file() else None

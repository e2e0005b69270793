"""What every model registry offers: register a trained model, find the newest for a dataset, fetch one."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from movinet_pipeline.core import layouts


class RegisterError(RuntimeError):
    """The model cannot be registered; the message says why."""


class ModelReferenceError(RuntimeError):
    """A model named by reference cannot be fetched or used; the message says which and why."""


class ModelRegistry(Protocol):
    """A place trained models are registered (`model_registry` picks the implementation for a URI)."""

    uri: str

    def register(self, model_dir: Path, evaluation_dir: Path, run_id: str, dataset_dir: Path | None = None,
                 base_model_id: str | None = None) -> dict:
        """Register the model of `run_id` (idempotent per run id); return {registry, name, model_id | folder}."""

    def latest_for_source(self, source: str) -> str:
        """A reference to the newest trained model whose lineage has dataset `source`; "" when there is none."""

    def fetch(self, reference: str, target: Path) -> Path:
        """Materialise the model named by `reference` as a model folder (layouts.ModelFolder) under `target`."""


def check_model_folder(folder: Path, reference: str) -> Path:
    """`folder` if it holds an exported model (SavedModel and labels), else ModelReferenceError naming `reference`."""
    model = layouts.ModelFolder(folder)
    if not model.has_saved_model() or not model.labels.is_file():
        raise ModelReferenceError(f"{reference} holds no exported model ({layouts.SAVED_MODEL}/ and "
                                  f"{layouts.LABELS}): give a model folder or a model registered by this pipeline")
    return folder

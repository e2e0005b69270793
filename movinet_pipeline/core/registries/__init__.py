"""Model registries: where trained models are registered and found again (`model_registry` picks one for a URI).

- `dataloop://<project-id>`: models of a Dataloop project, through dtlpy (`dataloop.py`); a model reference is
  `dataloop://<model-id>`;
- a folder: a local registry (`local.py`); a model reference is an entry folder or any model folder.

Both write the same entry (`entry.py`: labels, configuration, metrics, lineage, artifacts), idempotent per run id.
"""

from __future__ import annotations

from pathlib import Path

from movinet_pipeline.core.clients.dataloop import entity_id, is_dataloop_uri
from movinet_pipeline.core.registries.base import ModelReferenceError, ModelRegistry, RegisterError
from movinet_pipeline.core.registries.dataloop import DataloopRegistry
from movinet_pipeline.core.registries.local import LocalRegistry

__all__ = ["ModelReferenceError", "ModelRegistry", "RegisterError", "model_registry", "registry_of_reference"]


def model_registry(uri: str | Path) -> ModelRegistry:
    """The registry at `uri`: `dataloop://<project-id>` or a local folder."""
    if is_dataloop_uri(str(uri)):
        return DataloopRegistry(entity_id(str(uri)), str(uri))
    return LocalRegistry(Path(uri), str(uri))


def registry_of_reference(reference: str) -> ModelRegistry:
    """The registry that can fetch the model `reference` names (`dataloop://<model-id>`, or a folder)."""
    if is_dataloop_uri(reference):
        return DataloopRegistry("", reference)
    return LocalRegistry(Path(reference).parent, str(Path(reference).parent))

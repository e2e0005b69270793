"""register_model entry point: a Dataloop project (`dataloop://<project-id>`) or a local registry folder."""

from __future__ import annotations

import json
from pathlib import Path

from movinet_pipeline.dataloop import entity_id, is_dataloop_uri

RECORD = "registered.json"


def register(model_dir: str | Path, evaluation_dir: str | Path, registry: str, run_id: str,
             dataset_dir: str | Path | None = None, base_model_id: str | None = None) -> dict:
    """Register the model; return what was registered where: {registry, name, model_id | folder}."""
    if is_dataloop_uri(registry):
        from components.register_model.dataloop_registry import register_dataloop

        model = register_dataloop(model_dir, evaluation_dir, entity_id(registry), run_id, dataset_dir,
                                  base_model_id or None)
        return {"registry": registry, "name": model.name, "model_id": model.id}
    from components.register_model.local_registry import register_local

    folder = register_local(model_dir, evaluation_dir, registry, run_id, dataset_dir)
    return {"registry": str(registry), "name": folder.name, "folder": str(folder)}


def write_record(output: str | Path, record: dict) -> None:
    path = Path(output)
    path.mkdir(parents=True, exist_ok=True)
    (path / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")

"""register_model logic: the model JSON Dataloop gets, written to a local registry folder.

`<registry>/<model name>/model.json` holds exactly what would be sent to Dataloop (labels, configuration with
`weights_filename`, `id_to_label_map` and `label_to_id_map`, metrics, status, lineage) and `artifacts/` the files
that would be uploaded, so a model registered offline can be pushed later. Idempotent per run id: registering the
same run again updates its entry and never touches another run's.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from components.register_model.model_entry import RegisterError, artifact_files, build_model_json

log = logging.getLogger(__name__)
MODEL_JSON = "model.json"


def register_local(model_dir: str | Path, evaluation_dir: str | Path, registry: str | Path, run_id: str,
                   dataset_dir: str | Path | None = None) -> Path:
    """Write the model entry for `run_id` under `registry`; return its folder."""
    model_dir, evaluation_dir, registry = Path(model_dir), Path(evaluation_dir), Path(registry)
    entry = build_model_json(model_dir, evaluation_dir, Path(dataset_dir) if dataset_dir else None, run_id)
    target = registry / entry["name"]
    existing = target / MODEL_JSON
    if existing.exists():
        previous_run = json.loads(existing.read_text())["metadata"]["system"]["lineage"].get("run_id")
        if previous_run != run_id:
            raise RegisterError(f"{target} holds the model of run {previous_run!r}; refusing to overwrite it")
        log.info("model %s already registered by run %s: updating it", entry["name"], run_id)
    staging = registry / f".{entry['name']}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    for source in artifact_files(model_dir, entry["configuration"]["weights_filename"]):
        relative = source.relative_to(model_dir)
        (staging / "artifacts" / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, staging / "artifacts" / relative)
        entry["artifacts"].append({"type": "local", "filename": str(relative),
                                   "path": f"artifacts/{relative}", "bytes": source.stat().st_size})
    (staging / MODEL_JSON).write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    log.info("registered %s in local registry %s (%d artifacts)", entry["name"], registry, len(entry["artifacts"]))
    return target

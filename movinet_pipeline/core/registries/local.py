"""A local registry folder: the model JSON Dataloop would get, and the artifacts, per registered model.

`<registry>/<model name>/model.json` holds exactly what would be sent to Dataloop (labels, configuration with
`weights_filename`, `id_to_label_map` and `label_to_id_map`, metrics, status, lineage) and `artifacts/` the files
that would be uploaded, so a model registered offline can be pushed later. Idempotent per run id: registering the
same run again updates its entry and never touches another run's.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from movinet_pipeline.core import layouts
from movinet_pipeline.core.registries.base import RegisterError, check_model_folder
from movinet_pipeline.core.registries.entry import artifact_files, build_model_json, write_model_card

log = logging.getLogger(__name__)


def register_local(model_dir: str | Path, evaluation_dir: str | Path, registry: str | Path, run_id: str,
                   dataset_dir: str | Path | None = None) -> Path:
    """Write the model entry for `run_id` under `registry`; return its folder."""
    model_dir, evaluation_dir, registry = Path(model_dir), Path(evaluation_dir), Path(registry)
    entry = build_model_json(model_dir, evaluation_dir, Path(dataset_dir) if dataset_dir else None, run_id)
    target = registry / entry["name"]
    existing = layouts.RegisteredModel(target).model_json
    if existing.exists():
        previous_run = json.loads(existing.read_text())["metadata"]["system"]["lineage"].get("run_id")
        if previous_run != run_id:
            raise RegisterError(f"{target} holds the model of run {previous_run!r}; refusing to overwrite it")
        log.info("model %s already registered by run %s: updating it", entry["name"], run_id)
    staging = registry / f".{entry['name']}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    for source in artifact_files(model_dir, entry["configuration"]["weights_filename"]):
        relative = source.relative_to(model_dir)
        copy = layouts.RegisteredModel(staging).artifacts.root / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy)
        entry["artifacts"].append({"type": "local", "filename": str(relative),
                                   "path": f"{layouts.ARTIFACTS}/{relative}", "bytes": source.stat().st_size})
    card_folder = layouts.RegisteredModel(staging).artifacts.root
    card_folder.mkdir(parents=True, exist_ok=True)
    write_model_card(entry, card_folder)
    entry["artifacts"].append({"type": "local", "filename": layouts.MODEL_CARD,
                               "path": f"{layouts.ARTIFACTS}/{layouts.MODEL_CARD}",
                               "bytes": (card_folder / layouts.MODEL_CARD).stat().st_size})
    layouts.RegisteredModel(staging).model_json.write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    log.info("registered %s in local registry %s (%d artifacts)", entry["name"], registry, len(entry["artifacts"]))
    return target


def _lineage(entry: layouts.RegisteredModel) -> dict:
    return json.loads(entry.model_json.read_text())["metadata"]["system"]["lineage"]


@dataclass(frozen=True)
class LocalRegistry:
    """A registry folder: `<folder>/<model name>/` entries (layouts.RegisteredModel)."""

    folder: Path
    uri: str

    def register(self, model_dir: Path, evaluation_dir: Path, run_id: str, dataset_dir: Path | None = None,
                 base_model_id: str | None = None) -> dict:
        """See `ModelRegistry.register`."""
        if base_model_id:
            raise RegisterError("base_model_id applies to a Dataloop registry (dataloop://<project-id>)")
        entry = register_local(model_dir, evaluation_dir, self.folder, run_id, dataset_dir)
        return {"registry": self.uri, "name": entry.name, "folder": str(entry)}

    def latest_for_source(self, source: str) -> str:
        """See `ModelRegistry.latest_for_source` (the newest entry by modification time)."""
        entries = [layouts.RegisteredModel(path.parent) for path in self.folder.glob(f"*/{layouts.MODEL_JSON}")]
        matching = [entry for entry in entries if _lineage(entry).get("source") == source]
        newest = max(matching, key=lambda entry: entry.model_json.stat().st_mtime, default=None)
        return str(newest.root) if newest else ""

    def fetch(self, reference: str, target: Path) -> Path:
        """`reference`: a registry entry or a model folder; copied into `target`."""
        folder = Path(reference)
        if layouts.RegisteredModel(folder).is_entry():
            folder = layouts.RegisteredModel(folder).artifacts.root
        check_model_folder(folder, reference)
        shutil.copytree(folder, target, dirs_exist_ok=True)
        return target

"""The baseline a candidate is compared with (as TFX's Evaluator): the model currently serving, fetched as a model
folder (the model contract: `saved_model/`, `labels.json`, `config.json`).

A baseline is a local model folder, an entry of the local registry (its `artifacts/`) or `dataloop://<model-id>` (its
artifacts are downloaded through dtlpy). In a pipeline, no baseline named means the newest model the pipeline
registered in its registry for the same dataset source (`latest_registered`); `none` means no baseline: the gate
then uses its absolute thresholds only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from components.register_model.local_registry import MODEL_JSON
from movinet_pipeline import contracts
from movinet_pipeline.dataloop import DataloopError, connect, entity_id, is_dataloop_uri

log = logging.getLogger(__name__)


class BaselineError(RuntimeError):
    """The baseline named by the user cannot be used; the message says which and why."""


NO_BASELINE = "none"


def latest_registered(registry: str, dataset_dir: str | Path) -> str:
    """The newest trained model in `registry` (a local registry folder or dataloop://<project-id>) whose lineage has
    the same dataset source as the export in `dataset_dir`, as a baseline reference; "" when there is none."""
    info_path = Path(dataset_dir) / contracts.EXPORT_INFO
    source = json.loads(info_path.read_text()).get("source") if info_path.is_file() else None
    if not registry or not source:
        return ""
    if is_dataloop_uri(registry):
        dl = connect()
        filters = dl.Filters(resource=dl.FiltersResource.MODEL, field="metadata.system.lineage.source", values=source)
        filters.add(field="status", values="trained")
        filters.sort_by(field="createdAt", value=dl.FiltersOrderByDirection.DESCENDING)
        project = dl.projects.get(project_id=entity_id(registry))
        newest = next((model for page in project.models.list(filters=filters) for model in page), None)
        found = f"dataloop://{newest.id}" if newest else ""
    else:
        entries = [path.parent for path in Path(registry).glob(f"*/{MODEL_JSON}")
                   if json.loads(path.read_text())["metadata"]["system"]["lineage"].get("source") == source]
        found = str(max(entries, key=lambda entry: (entry / MODEL_JSON).stat().st_mtime)) if entries else ""
    log.info("baseline: %s", f"{found}, the newest model registered for {source}" if found else
             f"none registered in {registry} for {source} yet")
    return found


def fetch_baseline(reference: str, work_dir: str | Path) -> Path | None:
    """The baseline's model folder (downloaded under `work_dir` for Dataloop), or None without a baseline."""
    if not reference or reference == NO_BASELINE:
        return None
    if is_dataloop_uri(reference):
        folder = _download_dataloop_model(entity_id(reference), Path(work_dir) / "baseline")
    else:
        folder = Path(reference)
        if (folder / MODEL_JSON).is_file():  # a local registry entry
            folder = folder / "artifacts"
    if not (folder / contracts.SAVED_MODEL / "saved_model.pb").is_file() or not (folder / contracts.LABELS).is_file():
        raise BaselineError(f"baseline {reference} holds no exported model ({contracts.SAVED_MODEL}/ and "
                            f"{contracts.LABELS}): give a model folder or a model registered by this pipeline")
    return folder


def _download_dataloop_model(model_id: str, target: Path) -> Path:
    dl = connect()
    try:
        model = dl.models.get(model_id=model_id)
    except dl.exceptions.NotFound:
        raise DataloopError(f"baseline model {model_id} is not in Dataloop (or not visible to these credentials)") \
            from None
    target.mkdir(parents=True, exist_ok=True)
    model.artifacts.download(local_path=str(target), overwrite=True)
    log.info("baseline: Dataloop model %s (%s), %d artifacts -> %s", model.name, model_id, len(model.model_artifacts),
             target)
    return target

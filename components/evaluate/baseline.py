"""The baseline a candidate is compared with (as TFX's Evaluator): the model currently serving, fetched as a model
folder (the model contract: `saved_model/`, `labels.json`, `config.json`).

A baseline is a local model folder, an entry of the local registry (its `artifacts/`) or `dataloop://<model-id>` (its
artifacts are downloaded through dtlpy). Empty means no baseline: the gate uses its absolute thresholds only.
"""

from __future__ import annotations

import logging
from pathlib import Path

from components.register_model.local_registry import MODEL_JSON
from movinet_pipeline import contracts
from movinet_pipeline.dataloop import DataloopError, connect, entity_id, is_dataloop_uri

log = logging.getLogger(__name__)


class BaselineError(RuntimeError):
    """The baseline named by the user cannot be used; the message says which and why."""


def fetch_baseline(reference: str, work_dir: str | Path) -> Path | None:
    """The baseline's model folder (downloaded under `work_dir` for Dataloop), or None without a baseline."""
    if not reference:
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

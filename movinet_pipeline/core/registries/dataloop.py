"""A Dataloop project as a registry: the same model entry as the local registry, as a Dataloop model entity.

A new model is cloned from a base MoViNet model entity (`base_model_id`) or created through the MoViNet app's dpk
(`dataloop_adapter/dataloop.json`); then artifacts go to the project's Binaries dataset, labels, configuration and
lineage are set, training curves and evaluation scores are published as metrics, and the status becomes `trained`
last, so a half-registered model never looks trained. Idempotent per run id: the model name carries the run id, a
retry finds and updates that model, and a model of another run under the same name is never touched.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from movinet_pipeline.core.clients.dataloop import DataloopError, connect, entity_id, is_dataloop_uri
from movinet_pipeline.core.registries.base import RegisterError, check_model_folder
from movinet_pipeline.core.registries.entry import artifact_files, build_model_json

log = logging.getLogger(__name__)
APP_NAME = "movinet"
DPK_MODEL_NAME = "movinet-a0-base"
METRICS_PUBLISHED = "movinetMetricsPublished"


def _find_model(dl, project, name: str):
    filters = dl.Filters(resource=dl.FiltersResource.MODEL, field="name", values=name)
    matches = [model for page in project.models.list(filters=filters) for model in page]
    return matches[0] if matches else None


def _new_model(dl, project, entry: dict, dataset_id: str | None, base_model_id: str | None):
    if base_model_id:
        try:
            base = dl.models.get(model_id=base_model_id)
        except dl.exceptions.NotFound:
            raise RegisterError(f"base model {base_model_id!r} not found in Dataloop") from None
        log.info("cloning base model %s (%s) as %s", base.name, base.id, entry["name"])
        return project.models.clone(from_model=base, model_name=entry["name"], project_id=project.id,
                                    labels=entry["labels"], configuration=entry["configuration"],
                                    description=entry["description"], status="created")
    try:
        app = project.apps.get(app_name=APP_NAME)
    except dl.exceptions.NotFound:
        raise RegisterError(f"project {project.name!r} has no {APP_NAME!r} app installed and no base model was "
                            "given: install dataloop_adapter/dataloop.json as an app, or pass base_model_id") from None
    log.info("creating %s through app %s (dpk %s)", entry["name"], app.name, app.dpk_name)
    return project.models.create(model_name=entry["name"], app=app, dpk_model_name=DPK_MODEL_NAME,
                                 project_id=project.id, dataset_id=dataset_id, labels=entry["labels"],
                                 configuration=entry["configuration"], description=entry["description"],
                                 status="created", input_type="video", output_type="class")


def _upload_artifacts(model, model_dir: Path, weights_filename: str) -> None:
    """Upload the artifact files keeping their relative paths (saved_model/variables/...)."""
    with tempfile.TemporaryDirectory(prefix="movinet-artifacts-") as staging:
        for source in artifact_files(model_dir, weights_filename):
            target = Path(staging) / source.relative_to(model_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        model.artifacts.upload(filepath=str(Path(staging) / "*"), overwrite=True)


def register_dataloop(model_dir: str | Path, evaluation_dir: str | Path, project_id: str, run_id: str,
                      dataset_dir: str | Path | None = None, base_model_id: str | None = None):
    """Register the model of `run_id` in Dataloop project `project_id`; return the dtlpy Model entity."""
    model_dir, evaluation_dir = Path(model_dir), Path(evaluation_dir)
    entry = build_model_json(model_dir, evaluation_dir, Path(dataset_dir) if dataset_dir else None, run_id)
    lineage = entry["metadata"]["system"]["lineage"]
    dataset_id = lineage.get("dataset_id") if is_dataloop_uri(lineage.get("source")) else None
    dl = connect()
    try:
        project = dl.projects.get(project_id=project_id)
    except dl.exceptions.NotFound:
        raise RegisterError(f"Dataloop project {project_id!r} not found (or not visible to this user)") from None
    model = _find_model(dl, project, entry["name"])
    if model is not None:
        previous_run = ((model.metadata.get("system") or {}).get("lineage") or {}).get("run_id")
        if previous_run != run_id:
            raise RegisterError(f"Dataloop model {entry['name']!r} ({model.id}) belongs to run {previous_run!r}; "
                                "refusing to overwrite it")
        log.info("model %s (%s) already exists for run %s: updating it", entry["name"], model.id, run_id)
    else:
        model = _new_model(dl, project, entry, dataset_id, base_model_id)
    _upload_artifacts(model, model_dir, entry["configuration"]["weights_filename"])
    model = dl.models.get(model_id=model.id)
    if not model.metadata.get("system", {}).get(METRICS_PUBLISHED):
        samples = [dl.PlotSample(figure=s["figure"], legend=s["legend"], x=s["x"], y=s["y"])
                   for s in entry["metrics"]]
        model.metrics.create(samples=samples, dataset_id=dataset_id)
    model.labels = entry["labels"]
    model.configuration = entry["configuration"]
    model.description = entry["description"]
    model.metadata.setdefault("system", {}).update({**entry["metadata"]["system"], METRICS_PUBLISHED: True})
    model.metadata["evaluation"] = entry["metadata"]["evaluation"]
    model.status = "trained"
    model = model.update(system_metadata=True)
    log.info("registered %s (%s) in Dataloop project %s: %d labels, %d artifacts, %d metric samples",
             model.name, model.id, project.name, len(model.labels), len(model.model_artifacts), len(entry["metrics"]))
    return model


def download_model(model_id: str, target: Path) -> Path:
    """The artifacts of Dataloop model `model_id`, downloaded into `target` (a model folder)."""
    dl = connect()
    try:
        model = dl.models.get(model_id=model_id)
    except dl.exceptions.NotFound:
        raise DataloopError(f"model {model_id} is not in Dataloop (or not visible to these credentials)") from None
    target.mkdir(parents=True, exist_ok=True)
    model.artifacts.download(local_path=str(target), overwrite=True)
    log.info("fetched Dataloop model %s (%s): %d artifacts -> %s", model.name, model_id, len(model.model_artifacts),
             target)
    return target


@dataclass(frozen=True)
class DataloopRegistry:
    """Models of Dataloop project `project_id` (`dataloop://<project-id>`)."""

    project_id: str
    uri: str

    def register(self, model_dir: Path, evaluation_dir: Path, run_id: str, dataset_dir: Path | None = None,
                 base_model_id: str | None = None) -> dict:
        """See `ModelRegistry.register`."""
        model = register_dataloop(model_dir, evaluation_dir, self.project_id, run_id, dataset_dir,
                                  base_model_id or None)
        return {"registry": self.uri, "name": model.name, "model_id": model.id}

    def latest_for_source(self, source: str) -> str:
        """See `ModelRegistry.latest_for_source` (a Dataloop query, newest first)."""
        dl = connect()
        filters = dl.Filters(resource=dl.FiltersResource.MODEL, field="metadata.system.lineage.source", values=source)
        filters.add(field="status", values="trained")
        filters.sort_by(field="createdAt", value=dl.FiltersOrderByDirection.DESCENDING)
        project = dl.projects.get(project_id=self.project_id)
        newest = next((model for page in project.models.list(filters=filters) for model in page), None)
        return f"dataloop://{newest.id}" if newest else ""

    def fetch(self, reference: str, target: Path) -> Path:
        """`reference`: `dataloop://<model-id>` (any project these credentials see)."""
        return check_model_folder(download_model(entity_id(reference), Path(target)), reference)

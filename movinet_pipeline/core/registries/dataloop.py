"""A Dataloop project as a registry: the same model entry as the local registry, as a Dataloop model entity.

A new model is cloned from a base MoViNet model entity (`base_model_id`) or created through the MoViNet app's dpk
(`dataloop_adapter/dataloop.json`); then artifacts go to the project's Binaries dataset, labels, configuration and
lineage are set, training curves and evaluation scores are published as metrics, and the status becomes `trained`
last, so a half-registered model never looks trained.

Registration converges when retried (KFP retries the step; transient Dataloop errors are also retried inside it):
the model is created already claimed by its run (the tag `movinet-run:<run id>`, set in the create request itself),
so a retry after any failure finds the model by name, sees its own claim and resumes; artifacts are overwritten in
place; only the metric samples not yet stored are published; a model claimed by another run is never touched.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from movinet_pipeline.core.clients.dataloop import about, connect, entity_id, is_dataloop_uri, retrying
from movinet_pipeline.core.registries.base import RegisterError, check_model_folder
from movinet_pipeline.core.registries.entry import artifact_files, build_model_json, write_model_card

log = logging.getLogger(__name__)
APP_NAME = "movinet"
DPK_MODEL_NAME = "movinet-a0-base"
CLAIM_PREFIX = "movinet-run:"


def claim_tag(run_id: str) -> str:
    """The tag that marks a Dataloop model as the one registered by run `run_id`."""
    return CLAIM_PREFIX + run_id


def run_of(model) -> str | None:
    """The run that claimed `model`: its lineage, else its claim tag; None when neither is there."""
    lineage = ((model.metadata or {}).get("system") or {}).get("lineage") or {}
    if lineage.get("run_id"):
        return lineage["run_id"]
    claims = [tag[len(CLAIM_PREFIX):] for tag in (model.tags or []) if str(tag).startswith(CLAIM_PREFIX)]
    return claims[0] if len(claims) == 1 else None


def _find_model(dl, project, name: str):
    filters = dl.Filters(resource=dl.FiltersResource.MODEL, field="name", values=name)
    matches = [model for page in project.models.list(filters=filters) for model in page]
    return matches[0] if matches else None


def _new_model(dl, project, entry: dict, run_id: str, dataset_id: str | None, base_model_id: str | None):
    tags = [claim_tag(run_id)]
    if base_model_id:
        with about(f"base model {base_model_id!r}"):
            base = dl.models.get(model_id=base_model_id)
        log.info("cloning base model %s (%s) as %s", base.name, base.id, entry["name"])
        return project.models.clone(from_model=base, model_name=entry["name"], project_id=project.id,
                                    labels=entry["labels"], configuration=entry["configuration"],
                                    description=entry["description"], status="created", tags=tags)
    try:
        app = project.apps.get(app_name=APP_NAME)
    except dl.exceptions.NotFound:
        raise RegisterError(f"project {project.name!r} has no {APP_NAME!r} app installed and no base model was "
                            "given: install dataloop_adapter/dataloop.json as an app, or pass base_model_id") from None
    log.info("creating %s through app %s (dpk %s)", entry["name"], app.name, app.dpk_name)
    return project.models.create(model_name=entry["name"], app=app, dpk_model_name=DPK_MODEL_NAME,
                                 project_id=project.id, dataset_id=dataset_id, labels=entry["labels"],
                                 configuration=entry["configuration"], description=entry["description"],
                                 status="created", input_type="video", output_type="class", tags=tags)


def _upload_artifacts(model, model_dir: Path, entry: dict) -> None:
    """Upload the artifact files keeping their relative paths (saved_model/variables/...), and the model card.

    dtlpy's uploader retries a failed file itself and raises once it gives up.
    """
    with tempfile.TemporaryDirectory(prefix="movinet-artifacts-") as staging:
        write_model_card(entry, Path(staging))
        for source in artifact_files(model_dir, entry["configuration"]["weights_filename"]):
            target = Path(staging) / source.relative_to(model_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        model.artifacts.upload(filepath=str(Path(staging) / "*"), overwrite=True)


def _publish_missing_metrics(dl, model, samples: list[dict], dataset_id: str | None) -> int:
    """Publish the samples the model does not have yet (keyed by figure, legend and x); return how many."""
    stored = {(s.figure, s.legend, s.x) for page in model.metrics.list() for s in page}
    missing = [dl.PlotSample(figure=s["figure"], legend=s["legend"], x=s["x"], y=s["y"])
               for s in samples if (s["figure"], s["legend"], s["x"]) not in stored]
    if missing:
        model.metrics.create(samples=missing, dataset_id=dataset_id)
    return len(missing)


def _claimed_model(dl, project, entry: dict, run_id: str, dataset_id: str | None, base_model_id: str | None):
    """This run's model: found by name (refused when another run claimed it), else created with the claim."""
    with about(f"models of project {project.name!r}"):
        model = _find_model(dl, project, entry["name"])
    if model is None:
        with about(f"model {entry['name']!r} (creating it)"):
            return _new_model(dl, project, entry, run_id, dataset_id, base_model_id)
    owner = run_of(model)
    if owner != run_id:
        raise RegisterError(f"Dataloop model {entry['name']!r} ({model.id}) belongs to run {owner!r}; "
                            "refusing to overwrite it")
    log.info("model %s (%s) already exists for run %s (status %s): resuming its registration", entry["name"],
             model.id, run_id, model.status)
    return model


def _register_once(dl, model_dir: Path, entry: dict, project_id: str, run_id: str, dataset_id: str | None,
                   base_model_id: str | None):
    with about(f"project {project_id!r}"):
        project = dl.projects.get(project_id=project_id)
    model = _claimed_model(dl, project, entry, run_id, dataset_id, base_model_id)
    name = f"model {entry['name']!r} ({model.id})"
    with about(f"the artifacts of {name}"):
        _upload_artifacts(model, model_dir, entry)
        model = dl.models.get(model_id=model.id)
    with about(f"the metrics of {name}"):
        published = _publish_missing_metrics(dl, model, entry["metrics"], dataset_id)
    model.labels = entry["labels"]
    model.configuration = entry["configuration"]
    model.description = entry["description"]
    model.metadata.setdefault("system", {}).update(entry["metadata"]["system"])
    model.metadata["evaluation"] = entry["metadata"]["evaluation"]
    model.status = "trained"
    with about(f"{name} (final update)"):
        model = model.update(system_metadata=True)
    log.info("registered %s in Dataloop project %s: %d labels, %d artifacts, %d metric samples (%d new)",
             name, project.name, len(model.labels), len(model.model_artifacts), len(entry["metrics"]), published)
    return model


def register_dataloop(model_dir: str | Path, evaluation_dir: str | Path, project_id: str, run_id: str,
                      dataset_dir: str | Path | None = None, base_model_id: str | None = None, attempts: int = 4):
    """Register the model of `run_id` in Dataloop project `project_id`; return the dtlpy Model entity.

    Transient Dataloop errors are retried up to `attempts` times in all; every attempt resumes what the last one
    left (see the module docstring).
    """
    model_dir, evaluation_dir = Path(model_dir), Path(evaluation_dir)
    entry = build_model_json(model_dir, evaluation_dir, Path(dataset_dir) if dataset_dir else None, run_id)
    lineage = entry["metadata"]["system"]["lineage"]
    dataset_id = lineage.get("dataset_id") if is_dataloop_uri(lineage.get("source")) else None
    return retrying(lambda: _register_once(connect(), model_dir, entry, project_id, run_id, dataset_id,
                                           base_model_id), attempts, what=f"registering {entry['name']}")


def download_model(model_id: str, target: Path) -> Path:
    """The artifacts of Dataloop model `model_id`, downloaded into `target` (a model folder)."""
    dl = connect()
    with about(f"model {model_id}"):
        model = dl.models.get(model_id=model_id)
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
        """See `ModelRegistry.latest_for_source` (a Dataloop query, newest first; transient errors retried)."""
        return retrying(lambda: self._latest_for_source(source), what=f"finding the newest model of {source}")

    def _latest_for_source(self, source: str) -> str:
        dl = connect()
        filters = dl.Filters(resource=dl.FiltersResource.MODEL, field="metadata.system.lineage.source", values=source)
        filters.add(field="status", values="trained")
        filters.add(field="projectId", values=self.project_id)  # no project lookup: dtlpy reports its 5xx as 404
        filters.sort_by(field="createdAt", value=dl.FiltersOrderByDirection.DESCENDING)
        with about(f"the models of project {self.project_id!r}"):
            newest = next((model for page in dl.models.list(filters=filters) for model in page), None)
        return f"dataloop://{newest.id}" if newest else ""

    def fetch(self, reference: str, target: Path) -> Path:
        """`reference`: `dataloop://<model-id>` (any project these credentials see; transient errors retried)."""
        folder = retrying(lambda: download_model(entity_id(reference), Path(target)), what=f"fetching {reference}")
        return check_model_folder(folder, reference)

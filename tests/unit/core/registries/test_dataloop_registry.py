"""register_model to Dataloop with the pipeline's trained model: idempotent per run, never over another run's
model, clone or create, clear errors (faults: test_dataloop_registry_faults.py).
"""

from __future__ import annotations

import pytest

from movinet_pipeline.core.clients.dataloop import DataloopError
from movinet_pipeline.core.registries.dataloop import register_dataloop
from movinet_pipeline.core.registries.entry import RegisterError


def _register(run: dict, project_id: str, run_id: str, **kwargs):
    return register_dataloop(run["model"], run["evaluation"], project_id, run_id, run["export"], **kwargs)


def _metrics_of(emulator, model_id: str) -> int:
    return sum(1 for sample in emulator.store.metrics if sample["modelId"] == model_id)


def test_a_retried_registration_updates_the_same_model(pipeline_run, dataloop_env):
    store, project_id = dataloop_env.store, dataloop_env.project["id"]
    first = pipeline_run["registered"]["model_id"]
    models, metrics, artifacts = len(store.models), _metrics_of(dataloop_env, first), len(store.items)
    again = _register(pipeline_run, project_id, "dataloop-e2e")
    assert again.id == first and again.status == "trained"
    assert len(store.models) == models and len(store.items) == artifacts  # artifacts overwritten in place
    assert _metrics_of(dataloop_env, first) == metrics


def test_another_run_gets_its_own_model_and_never_overwrites_one_of_another_run(pipeline_run,
                                                                                dataloop_env):
    store, project_id = dataloop_env.store, dataloop_env.project["id"]
    first = pipeline_run["registered"]["model_id"]
    before = dict(store.models[first])
    other = _register(pipeline_run, project_id, "nightly-2026-11-28")
    assert other.id != first and other.name == "movinet-a0-nightly-2026-11-28"
    assert store.models[first]["updatedAt"] == before["updatedAt"]
    store.models[other.id]["metadata"]["system"]["lineage"]["run_id"] = "someone-else"
    with pytest.raises(RegisterError, match="belongs to run 'someone-else'; refusing to overwrite it"):
        _register(pipeline_run, project_id, "nightly-2026-11-28")


def test_clone_from_a_base_model_entity(pipeline_run, dataloop_env):
    from tests.dataloop_emulator.store import new_id

    store, project_id = dataloop_env.store, dataloop_env.project["id"]
    base_id = new_id()
    store.models[base_id] = {"id": base_id, "name": "movinet-a0-kinetics600", "projectId": project_id,
                             "status": "pre-trained", "labels": ["abseiling", "zumba"], "packageId": "dpk-1",
                             "configuration": {"model_id": "a0", "id_to_label_map": {"0": "abseiling"}},
                             "inputType": "video", "outputType": "class", "artifacts": [],
                             "metadata": {"system": {}}}
    model = _register(pipeline_run, project_id, "cloned-run", base_model_id=base_id)
    stored = store.models[model.id]
    assert stored["metadata"]["system"]["clonedFrom"] == base_id and stored["packageId"] == "dpk-1"
    assert stored["labels"] == ["down", "left", "right", "up"] and stored["status"] == "trained"
    assert stored["configuration"]["id_to_label_map"] == {"0": "down", "1": "left", "2": "right", "3": "up"}
    with pytest.raises(DataloopError, match="base model 'no-such-model' not found"):
        _register(pipeline_run, project_id, "cloned-run-2", base_model_id="no-such-model")


def test_clear_errors_for_a_wrong_project_or_no_way_to_create_the_model(pipeline_run, dataloop_env):
    with pytest.raises(DataloopError, match="^project 'no-such-project' not found in Dataloop"):
        _register(pipeline_run, "no-such-project", "x")
    bare = dataloop_env.store.add_project("no-apps")
    with pytest.raises(RegisterError, match="has no app of the 'movinet' DPK installed and no base"):
        _register(pipeline_run, bare["id"], "x")



@pytest.mark.parametrize("model_id", ["a0", "a2"])
def test_a_new_model_is_created_through_the_app_from_the_pretrained_entry_of_its_size(dataloop_env, model_id):
    """Without the pipeline run: the app is found by its DPK's name and the model made from that size's entry."""
    from movinet_pipeline.core.clients.dataloop import connect
    from movinet_pipeline.core.registries.dataloop import _new_model

    dl = connect()
    project = dl.projects.get(project_id=dataloop_env.project["id"])
    entry = {"name": f"through-the-app-{model_id}", "labels": ["a", "b"], "description": "test",
             "configuration": {"model_id": model_id}}
    model = _new_model(dl, project, entry, f"run-{model_id}", None, None)
    stored = dataloop_env.store.models[model.id]
    assert stored["app"]["componentName"] == f"movinet-{model_id}-base" and stored["app"]["dpkName"] == "movinet"
    assert stored["labels"] == ["a", "b"] and stored["status"] == "created"

"""Registration converges: fail each kind of Dataloop call of the register step in turn (HTTP 500 before or after
the gate served it, a dropped connection); a retry with the same run id completes the one model of that run.
"""

from __future__ import annotations

import json
import re

import pytest

from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients import dataloop as dataloop_client
from movinet_pipeline.core.clients.dataloop import DataloopError
from movinet_pipeline.core.config import PipelineConfig, write_config
from movinet_pipeline.core.registries.dataloop import register_dataloop
from movinet_pipeline.core.registries.entry import RegisterError
from tests.dataloop_emulator.server import FAULT_KINDS

LABELS = ["down", "left", "right", "up"]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict:
    """A model folder, its evaluation and export info as a trained run leaves them (small files, no training)."""
    root = tmp_path_factory.mktemp("registry-faults")
    model = layouts.ModelFolder(root / "model")
    model.saved_model.mkdir(parents=True)
    write_config(PipelineConfig(), model.config)
    layouts.write_labels(root / "model", LABELS)
    model.weights(PipelineConfig().weights_filename).write_bytes(b"weights" * 100)
    (model.saved_model / layouts.SAVED_MODEL_PROTO).write_bytes(b"graph" * 100)
    model.history.write_text(json.dumps({"loss": [1.2, 0.7], "val_loss": [1.3, 0.9], "accuracy": [0.4, 0.8]}))
    evaluation = root / "evaluation"
    evaluation.mkdir()
    layouts.Evaluation(evaluation).metrics.write_text(json.dumps(
        {"subset": "validation", "top1_accuracy": 0.75, "top_k": 3, "top_k_accuracy": 1.0}))
    layouts.Evaluation(evaluation).verdict.write_text(json.dumps({"blessed": True, "reason": "ok", "data": {
        "lost": 1, "lost_fraction": 0.05, "lost_items": [{"item": "a.mp4", "reason": "x", "step": "s", "lost": True}],
        "lost_items_listed": 1}, "measured_on": {"subset": "validation", "independent": False, "note": "n"}}))
    export = root / "export"
    export.mkdir()
    (export / layouts.EXPORT_INFO).write_text(json.dumps({"source": "local:/data/directions", "dataset_id": "",
                                                          "export_fingerprint": "f" * 64}))
    return {"model": root / "model", "evaluation": evaluation, "export": export}


def _register(files: dict, project_id: str, run_id: str, **kwargs):
    return register_dataloop(files["model"], files["evaluation"], project_id, run_id, files["export"], **kwargs)


def _state(store, model_id: str) -> dict:
    """What a registration must leave: status, labels, configuration, artifacts, metric samples, its run."""
    model = store.models[model_id]
    samples = sorted((s["figure"], s["legend"], s["data"]["x"], s["data"]["y"]) for s in store.metrics
                     if s["modelId"] == model_id)
    artifacts = sorted(store.items[a["itemId"]]["filename"].rsplit(f"/{model['name']}/", 1)[1]
                       for a in model["artifacts"])
    return {"status": model["status"], "labels": model["labels"], "configuration": model["configuration"],
            "artifacts": artifacts, "samples": samples, "run": model["metadata"]["system"]["lineage"]["run_id"]}


def _kinds_of_call(requests: list[tuple[str, str]]) -> list[int]:
    """The index of the first call of each kind (method and route, ids left out)."""
    first: dict[tuple[str, str], int] = {}
    for index, (method, path) in enumerate(requests):
        first.setdefault((method, re.sub(r"/[0-9a-f]{24}", "/ID", path)), index)
    return sorted(first.values())


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(dataloop_client, "RETRY_WAIT_S", 0.01)


@pytest.mark.slow  # about 60 registrations
@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_registration_converges_after_a_fault_at_any_kind_of_call(kind, model_files, dataloop_env, fast_retries):
    store, project_id = dataloop_env.store, dataloop_env.project["id"]
    start = len(dataloop_env.requests)
    reference = _state(store, _register(model_files, project_id, f"reference-{kind}").id)
    calls = _kinds_of_call(dataloop_env.requests[start:])
    assert len(calls) >= 8, dataloop_env.requests[start:]
    untouched = {model_id: json.dumps(model, sort_keys=True) for model_id, model in store.models.items()}
    failed = []
    for call in calls:
        run_id = f"fault-{kind}-{call}"
        dataloop_env.fail_call(call, kind)
        try:
            model = _register(model_files, project_id, run_id, attempts=1)  # absorbed: it must be complete
            assert not dataloop_env.faults, f"call {call} was never made"
        except (DataloopError, RegisterError) as error:
            failed.append(call)
            assert "\n" not in str(error)
            dataloop_env.faults.clear()
            model = _register(model_files, project_id, run_id, attempts=1)  # KFP's retry of the step
        named = [m for m in store.models.values() if m["name"] == f"movinet-a0-{run_id}"]
        assert [m["id"] for m in named] == [model.id], f"{kind} at call {call}: {len(named)} models"
        assert _state(store, model.id) == {**reference, "run": run_id}, f"{kind} at call {call}"
    assert {model_id: json.dumps(store.models[model_id], sort_keys=True) for model_id in untouched} == untouched
    uploads = [call for call in calls if dataloop_env.requests[start + call][1].endswith("/items")]
    if kind == "drop":
        assert failed == []  # dtlpy resends a request whose connection dropped
    else:  # dtlpy's uploader retries a file itself; every other call fails the step, which then resumes
        assert failed == [call for call in calls if call not in uploads]
    assert dataloop_env.unknown_routes == []
    evaluation = store.models[model.id]["metadata"]["evaluation"]
    assert evaluation["data"]["lost"] == 1 and evaluation["measured_on"]["independent"] is False


def test_a_transient_error_is_retried_inside_the_step(model_files, dataloop_env, fast_retries, caplog):
    caplog.set_level("WARNING", logger="movinet_pipeline")
    store, project_id = dataloop_env.store, dataloop_env.project["id"]
    dataloop_env.fail_call(3, "500-after")
    model = _register(model_files, project_id, "retried-inside")
    assert not dataloop_env.faults and store.models[model.id]["status"] == "trained"
    assert "failed (attempt 1 of 4), retrying" in caplog.text


def test_a_half_registered_model_without_a_claim_is_not_taken_over(model_files, dataloop_env):
    from tests.dataloop_emulator.store import new_id

    store, project_id = dataloop_env.store, dataloop_env.project["id"]
    stray = new_id()
    store.models[stray] = {"id": stray, "name": "movinet-a0-unclaimed", "projectId": project_id, "status": "created",
                           "labels": [], "configuration": {}, "artifacts": [], "tags": [], "metadata": {"system": {}}}
    with pytest.raises(RegisterError, match="belongs to run None; refusing to overwrite it"):
        _register(model_files, project_id, "unclaimed")
    assert store.models[stray]["status"] == "created"


def test_a_project_the_key_cannot_see_is_a_one_line_error(model_files, dataloop_env):
    private = dataloop_env.store.add_project("someone-elses")
    private["members"] = ["owner@example.com"]
    before = len(dataloop_env.store.models)
    with pytest.raises(DataloopError, match=rf"^project '{private['id']}' not found in Dataloop \(or not visible "
                                            r"to these credentials\)$"):  # dtlpy reports a project's 403 as 404
        _register(model_files, private["id"], "forbidden")
    assert ("GET", f"/api/v1/projects/{private['id']}") in dataloop_env.requests
    assert len(dataloop_env.store.models) == before


def test_finding_and_fetching_a_baseline_retries_transient_errors(model_files, dataloop_env, fast_retries, tmp_path):
    from movinet_pipeline.core.registries.dataloop import DataloopRegistry

    project_id = dataloop_env.project["id"]
    model = _register(model_files, project_id, "baseline-source")
    registry = DataloopRegistry(project_id, f"dataloop://{project_id}")
    source = dataloop_env.store.models[model.id]["metadata"]["system"]["lineage"]["source"]
    assert source == "local:/data/directions"
    dataloop_env.fail_call(1, "500")
    assert registry.latest_for_source(source) == f"dataloop://{model.id}" and not dataloop_env.faults
    for kind in ("500", "drop"):
        dataloop_env.fail_call(2, kind)
        folder = registry.fetch(f"dataloop://{model.id}", tmp_path / kind)
        assert not dataloop_env.faults
        assert (folder / "labels.json").read_text() == (model_files["model"] / "labels.json").read_text()

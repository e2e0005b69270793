"""End to end with Dataloop: upload -> pipeline (export, TFRecords, train, evaluate, register) -> the adapter predicts
with the registered model. Everything goes through the real dtlpy SDK against the emulator.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from movinet_pipeline.core.config import SEED_KEYS
from movinet_pipeline.pipelines.compile import read_compiled
from tests.conftest import REPO

LABELS = ["down", "left", "right", "up"]
pytestmark = pytest.mark.docker  # the run's steps, and the adapter, run in the images


@pytest.fixture(scope="module")
def registered_model(pipeline_run, dataloop_emulator) -> dict:
    model_id = pipeline_run["registered"]["model_id"]
    return dataloop_emulator.store.models[model_id]


def test_the_pipeline_registers_a_trained_model_in_the_dataloop_project(pipeline_run, registered_model,
                                                                        dataloop_emulator):
    assert "Registered model: movinet-a0-dataloop-e2e in dataloop://" in pipeline_run["stdout"]
    model = registered_model
    assert model["name"] == "movinet-a0-dataloop-e2e" and model["status"] == "trained"
    assert model["projectId"] == dataloop_emulator.project["id"]
    assert model["app"]["dpkName"] == "movinet"  # created through the app's dpk
    assert model["labels"] == ["down", "left", "right", "up"]
    configuration = model["configuration"]
    assert set(SEED_KEYS) <= set(configuration) and configuration["weights_filename"] == "model.weights.h5"
    assert configuration["id_to_label_map"] == {"0": "down", "1": "left", "2": "right", "3": "up"}
    assert configuration["label_to_id_map"] == {"down": 0, "left": 1, "right": 2, "up": 3}
    lineage = model["metadata"]["system"]["lineage"]
    export_info = json.loads((pipeline_run["export"] / "export.json").read_text())
    assert lineage["run_id"] == "dataloop-e2e" and lineage["dataset_id"] == pipeline_run["dataset"]["id"]
    assert lineage["export_fingerprint"] == export_info["export_fingerprint"]
    artifact_names = {dataloop_emulator.store.items[a["itemId"]]["filename"].split(
        f"/artifacts/models/{model['name']}/", 1)[1] for a in model["artifacts"]}
    assert {"model.weights.h5", "labels.json", "config.json", "saved_model/saved_model.pb", "model_card.md"} <= \
        artifact_names
    assert "## Intended use" in model["description"] and "- run id: `dataloop-e2e`" in model["description"]
    assert f"Dataloop dataset `{pipeline_run['dataset']['id']}`" in model["description"]
    binaries = next(d for d in dataloop_emulator.store.datasets.values()
                    if d["name"] == "Binaries" and d["projects"] == [dataloop_emulator.project["id"]])
    weights_item = next(i for i in dataloop_emulator.store.items.values()
                        if i["datasetId"] == binaries["id"] and i["filename"].endswith("/model.weights.h5"))
    weights = pipeline_run["model"] / "model.weights.h5"
    assert dataloop_emulator.store.blobs[weights_item["id"]] == weights.read_bytes()
    metrics = [m for m in dataloop_emulator.store.metrics if m["modelId"] == model["id"]]
    assert {m["figure"] for m in metrics} >= {"loss", "accuracy", "top1_accuracy"}
    assert all(m["datasetId"] == pipeline_run["dataset"]["id"] for m in metrics)


def test_every_step_ran_in_its_image_built_from_this_commit_and_left_outputs_to_the_user(pipeline_run):
    from movinet_pipeline.core.images import image, source_revision

    ran = json.loads((pipeline_run["output"] / "containers.json").read_text())
    tasks = {path.name for path in pipeline_run["run_dir"].iterdir() if path.is_dir()}
    assert {"export-dataset", "build-tfrecords", "train", "evaluate", "register-model"} <= tasks
    assert len(ran) >= len(tasks)  # one container per task (the exit handler's too)
    assert {entry["image"] for entry in ran} == {image("pipeline"), image("trainer-cpu")}
    assert {entry["revision"] for entry in ran} == {source_revision()}
    assert f"step(s) in {image('trainer-cpu')} (built from {source_revision()})" in pipeline_run["stdout"]
    owners = {(path.stat().st_uid, path.stat().st_gid) for path in pipeline_run["output"].rglob("*")}
    assert owners == {(os.getuid(), os.getgid())}
    assert {(p.stat().st_uid, p.stat().st_gid) for p in pipeline_run["cache_root"].rglob("*")} == owners


def test_the_cache_root_parameter_reaches_the_export_and_the_examples(pipeline_run):
    """The run's cache_root (a run parameter) keys the export's entries and fills the clip cache."""
    from movinet_pipeline.core import layouts

    stats = json.loads((pipeline_run["examples"] / "stats.json").read_text())
    assert stats["clips_encoded"] == stats["clips"] > 0 and stats["clips_reused"] == 0
    assert f"Examples: {stats['clips']} clips, {stats['clips']} encoded, 0 reused" in pipeline_run["stdout"]
    entries = list(layouts.read_manifest(pipeline_run["export"]))
    assert all(entry.content_id.startswith(f"dataloop:{entry.item_id}:") for entry in entries)
    stored = list((pipeline_run["cache_root"] / "clips").glob("*/*/*.clips"))
    assert len(stored) == len(entries) and list((pipeline_run["cache_root"] / "clips").glob("*/sampling.json"))


def test_the_key_is_nowhere_at_rest_nor_in_logs_or_the_compiled_pipeline(pipeline_run):
    key = pipeline_run["key"]
    for text in (pipeline_run["stdout"], pipeline_run["stderr"]):
        assert key not in text and key.split(".")[-1] not in text
    written = [path for folder in ("output", "home", "tmp") for path in pipeline_run[folder].rglob("*")
               if path.is_file()]
    assert len(written) > 50  # the run's outputs, logs, kfp.local's files: every type
    for path in written:
        content = path.read_bytes()
        assert key.encode() not in content and key.split(".")[-1].encode() not in content, path
    assert not (pipeline_run["home"] / ".dataloop").exists()  # dtlpy's default state folder
    assert not list(pipeline_run["tmp"].glob("movinet-dtlpy-*"))  # the private one, removed at exit
    compiled = read_compiled(REPO / "pipeline.yaml")[0]
    parameters = {name.lower() for name in compiled["root"]["inputDefinitions"]["parameters"]}
    credential_like = {name for name in parameters if any(w in name for w in ("password", "key", "token", "secret"))}
    assert credential_like == {"dataloop_secret"}  # the name of the Kubernetes secret to mount, not its content


# Runs inside the serving image: what Dataloop's runner does with the adapter, given the model and the items.
ADAPTER_IN_THE_IMAGE = """
import json, sys
from movinet_pipeline.core.clients.dataloop import connect
from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter
dl = connect()
model_id, item_ids = sys.argv[1], sys.argv[2:]
adapter = MovinetAdapter(dl.models.get(model_id=model_id))
_, annotations = adapter.predict_items([dl.items.get(item_id=item_id) for item_id in item_ids])
print(json.dumps({"failed": [str(item) for item in adapter.failed_items], "annotations": [
    {"item_id": a.item_id, "label": a.label, "type": a.type, "start_frame": a.start_frame,
     "end_frame": a.end_frame, "confidence": a.metadata["user"]["model"]["confidence"]} for a in annotations]}))
"""


def test_the_adapter_predicts_in_the_image_the_manifest_names_and_uploads_annotations(pipeline_run,
                                                                                        dataloop_env):
    """The Dataloop app's serving image (dataloop.json's runnerImage), run as Dataloop would: the registered model
    loaded through dtlpy, `predict_items` on validation videos, annotations uploaded to the emulator.
    """
    from movinet_pipeline.core.clients.dataloop import connect

    manifest = json.loads((REPO / "dataloop_adapter" / "dataloop.json").read_text())
    serving_image = next(c["runtime"]["runnerImage"] for c in manifest["components"]["computeConfigs"]
                         if c["name"] == manifest["components"]["modules"][0]["computeConfig"])
    dl = connect()
    model_id = pipeline_run["registered"]["model_id"]
    model_name = dl.models.get(model_id=model_id).name
    dataset = dl.datasets.get(dataset_id=pipeline_run["dataset"]["id"])
    validation = [item for page in dataset.items.list(filters=dl.Filters(field="dir", values="/validation"))
                  for item in page]
    per_label = 4
    items = [item for label in LABELS
             for item in [i for i in validation if i.name.startswith(f"{label}_")][:per_label]]
    truth = {item.id: item.name.split("_")[0] for item in items}
    assert sorted(truth.values()) == sorted(LABELS * per_label)  # every class, not the first items by creation
    completed = subprocess.run(
        ["docker", "run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp", "--user", "1000:1000",
         "--env", "DATALOOP_ENV", "--env", "DATALOOP_API_KEY", "--env", "TF_CPP_MIN_LOG_LEVEL=3",
         serving_image, "python", "-c", ADAPTER_IN_THE_IMAGE, model_id, *truth],
        capture_output=True, text=True, timeout=600, env=os.environ)
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["failed"] == []
    by_item: dict[str, list] = {}
    for annotation in result["annotations"]:
        by_item.setdefault(annotation["item_id"], []).append(annotation)
    assert set(by_item) == set(truth)
    correct = 0
    for item_id, predicted in by_item.items():
        assert len(predicted) == 3  # top_k
        confidences = [a["confidence"] for a in predicted]
        assert all(0.0 <= c <= 1.0 for c in confidences) and sum(confidences) <= 1.0 + 1e-5
        correct += max(predicted, key=lambda a: a["confidence"])["label"] == truth[item_id]
        assert all(a["type"] == "class" and a["start_frame"] == 0 and a["end_frame"] == 23 for a in predicted)
        uploaded = [a for a in dataloop_env.store.annotations.values() if a["itemId"] == item_id
                    and a["metadata"].get("system", {}).get("model", {}).get("name") == model_name]
        assert len(uploaded) == 3  # a second predict_items would replace them, not add
    assert correct / len(truth) >= 0.8, f"top-1 {correct}/{len(truth)} on validation videos (chance 0.25)"

"""The README's main job, `movinet-pipeline run` on the bundled sample through kfp.local, learns: checked on the
whole run (tests/conftest.py `pipeline_run`: the sample through Dataloop, each step in its image, causal).
"""

import json

from movinet_pipeline.core import layouts
from tests.conftest import RUN_ID


def test_run_prints_every_output_and_the_final_metrics(pipeline_run):
    stdout = pipeline_run["stdout"]
    for task in ("export-dataset", "build-tfrecords", "train", "evaluate", "register-model"):
        assert task in stdout
    assert "top-1 accuracy" in stdout and "Registered model:" in stdout
    assert "Data lost before training: 0 labelled item(s) or clip(s)" in stdout
    assert "measured on validation, the subset that also chose the best epoch: optimistic" in stdout


def test_the_model_learned_the_temporal_task(pipeline_run):
    metrics = pipeline_run["metrics"]
    assert metrics["subset"] == "validation" and metrics["clips"] == 48
    assert metrics["top1_accuracy"] >= 0.8, metrics  # chance is 0.25; a frame-order-blind model is capped lower
    assert metrics["top_k_accuracy"] >= metrics["top1_accuracy"]
    assert sum(map(sum, metrics["confusion_matrix"])) == 48


def test_model_contract(pipeline_run):
    model = pipeline_run["model"]
    config = json.loads((model / "config.json").read_text())
    # the cpu-sample profile
    assert (config["imgz"], config["n_frames"], config["batch_size"], config["conv_type"]) == (48, 8, 8, "2plus1d")
    assert config["causal"] is True  # the run's one override
    assert (model / config["weights_filename"]).is_file()
    assert (model / "saved_model" / "saved_model.pb").is_file()
    assert layouts.read_labels(model) == ["down", "left", "right", "up"]
    history = json.loads((model / "history.json").read_text())
    assert len(history["val_accuracy"]) == config["num_epochs"]
    assert list((model / "logs").rglob("events.out.tfevents.*"))


def test_weights_file_loads_into_a_fresh_movinet_classifier_and_matches_the_saved_model(pipeline_run):
    import numpy as np
    import tensorflow as tf

    from movinet_pipeline.core.model.input_pipeline import clip_dataset
    from movinet_pipeline.core.model.network import build_backbone, build_classifier

    model_dir, examples = pipeline_run["model"], pipeline_run["examples"]
    classifier = build_classifier(build_backbone("a0", "2plus1d", causal=True), 4, 8, 48)
    classifier.load_weights(str(model_dir / "model.weights.h5"))
    frames, _ = next(iter(clip_dataset(examples, "validation", 8, 48, 4, training=False)))
    served = tf.saved_model.load(str(model_dir / "saved_model")).signatures["serving_default"](image=frames)
    np.testing.assert_allclose(classifier(frames, training=False).numpy(), served["logits"].numpy(), atol=1e-4)


def test_evaluation_contract_and_report(pipeline_run):
    evaluation = pipeline_run["evaluation"]
    verdict = json.loads((evaluation / "verdict.json").read_text())
    assert verdict["blessed"] is True and "chance" in verdict["reason"]
    assert verdict["measured_on"] == {"subset": "validation", "independent": False,
                                      "note": verdict["measured_on"]["note"]}
    assert verdict["data"]["lost"] == 0
    report = (evaluation / "report.html").read_text()
    assert "Confusion matrix" in report and "<svg" in report and "What the figures stand on" in report
    card = (evaluation / "model_card.md").read_text()
    for section in ("## Intended use", "## Data", "## Training", "## Metrics", "## Known limits", "## Lineage"):
        assert section in card
    metrics = pipeline_run["metrics"]
    assert f"top-1 accuracy **{metrics['top1_accuracy']:.3f}**" in card and "**validation** subset" in card
    assert "also chose the best epoch" in card, "the card names the limit the figures show"
    stats = json.loads((pipeline_run["examples"] / "stats.json").read_text())
    assert f"| up | {stats['clips_per_subset_label']['train']['up']} |" in card
    assert f"dataset content key: `{stats['dataset']['export_fingerprint']}`" in card
    assert '<section class="model-card">' in report and "<table>" in report.split('class="model-card"')[1]



def test_kfp_metrics_and_confusion_matrix_artifacts(pipeline_run):
    executor_output = json.loads((pipeline_run["run_dir"] / "evaluate" / "executor_output.json").read_text())
    artifacts = {name: value["artifacts"][0] for name, value in executor_output["artifacts"].items()}
    assert executor_output["parameterValues"]["Output"] is True
    metrics = artifacts["metrics"]["metadata"]
    assert metrics["validation_top1_accuracy"] == pipeline_run["metrics"]["top1_accuracy"]
    matrix = artifacts["confusion"]["metadata"]["confusionMatrix"]
    assert [spec["displayName"] for spec in matrix["annotationSpecs"]] == ["down", "left", "right", "up"]
    assert [row["row"] for row in matrix["rows"]] == pipeline_run["metrics"]["confusion_matrix"]


def test_registered_model_holds_what_dataloop_would_get(pipeline_run):
    entry_dir = pipeline_run["registry"] / f"movinet-a0-{RUN_ID}"
    model_json = json.loads((entry_dir / "model.json").read_text())
    assert model_json["status"] == "trained"
    assert model_json["labels"] == ["down", "left", "right", "up"]
    configuration = model_json["configuration"]
    assert configuration["weights_filename"] == "model.weights.h5"
    assert configuration["id_to_label_map"] == {"0": "down", "1": "left", "2": "right", "3": "up"}
    assert configuration["label_to_id_map"]["up"] == 3
    for key in ("hub_version", "model_id", "model_mode", "imgz", "batch_size", "num_epochs", "n_frames", "top_k",
                "learning_rate"):
        assert key in configuration
    lineage = model_json["metadata"]["system"]["lineage"]
    assert lineage["run_id"] == RUN_ID and len(lineage["export_fingerprint"]) == 64
    assert {m["figure"] for m in model_json["metrics"]} >= {"accuracy", "loss", "top1_accuracy"}
    for artifact in model_json["artifacts"]:
        assert (entry_dir / artifact["path"]).stat().st_size == artifact["bytes"]
    assert any(a["filename"] == "model.weights.h5" for a in model_json["artifacts"])
    assert model_json["description"].startswith("# MoViNet-A0 video classifier")
    assert f"- registered as: `movinet-a0-{RUN_ID}`" in model_json["description"]
    assert f"- run id: `{RUN_ID}`" in model_json["description"]
    assert (entry_dir / "artifacts" / "model_card.md").read_text() == model_json["description"]


def test_registering_the_same_run_again_updates_and_another_run_is_separate(pipeline_run, tmp_path):
    import shutil

    from movinet_pipeline.core.registries.local import register_local

    registry = tmp_path / "registry"
    shutil.copytree(pipeline_run["registry"], registry)
    args = (pipeline_run["model"], pipeline_run["evaluation"], registry)
    register_local(*args, run_id=RUN_ID, dataset_dir=pipeline_run["export"])
    register_local(*args, run_id="another-run", dataset_dir=pipeline_run["export"])
    assert sorted(p.name for p in registry.iterdir()) == ["movinet-a0-another-run", f"movinet-a0-{RUN_ID}"]

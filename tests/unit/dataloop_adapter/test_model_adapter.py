"""The MoViNet Dataloop model adapter: manifest, loading sources, input parity with the records, failure handling."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import SEED_KEYS, PipelineConfig
from movinet_pipeline.core.model.network import hub_cache_folder
from tests.conftest import REPO

MANIFEST = REPO / "dataloop_adapter" / "dataloop.json"
LABELS = ["down", "left", "right", "up"]


def _dl(dataloop_env):
    from movinet_pipeline.core.clients.dataloop import connect

    return connect()


def _model_entity(dl, emulator, configuration: dict, labels=LABELS, name="adapter-test", **fields):
    """A model entity in the emulator (as a deployed app would have it), fetched through dtlpy."""
    from tests.dataloop_emulator.store import new_id

    model_id = new_id()
    emulator.store.models[model_id] = {
        "id": model_id, "name": f"{name}-{model_id[-4:]}", "projectId": emulator.project["id"], "status": "trained",
        "labels": labels, "configuration": configuration, "artifacts": [], "inputType": "video",
        "outputType": "class", "metadata": {"system": {}}, "context": {"project": emulator.project["id"]}, **fields}
    return dl.models.get(model_id=model_id)


def test_the_manifest_parses_as_a_dpk_and_names_the_adapter_class():
    import dtlpy as dl

    manifest = json.loads(MANIFEST.read_text())
    dpk = dl.Dpk.from_json(manifest, client_api=dl.client_api)
    module = dpk.components.modules[0]
    entry_point = REPO / module.entry_point
    assert entry_point.is_file()
    adapter_module = importlib.import_module(".".join(entry_point.relative_to(REPO).with_suffix("").parts))
    assert issubclass(getattr(adapter_module, module.class_name), dl.BaseModelAdapter)
    model = dpk.components.models[0]
    assert model["moduleName"] == module.name and model["inputType"] == "video" and model["outputType"] == "class"
    from movinet_pipeline.dataloop_adapter.manifest import RESOLUTIONS

    for model in dpk.components.models:  # the keys users know, at Model Garden's resolution for each size
        model_id = model["configuration"]["model_id"]
        defaults = PipelineConfig(model_id=model_id, imgz=RESOLUTIONS[model_id]).to_dict()
        assert {key: model["configuration"][key] for key in SEED_KEYS} == {key: defaults[key] for key in SEED_KEYS}


def test_prediction_input_equals_what_evaluation_reads_from_the_records(pipeline_run):
    from movinet_pipeline.core.config import read_config
    from movinet_pipeline.core.model.inference import video_clip
    from movinet_pipeline.core.model.input_pipeline import parse_clip, record_files

    config = read_config(pipeline_run["model"] / "config.json")
    export = pipeline_run["export"]
    videos = {json.loads(p.read_text())["id"]: export / "items" / json.loads(p.read_text())["filename"].lstrip("/")
              for p in (export / "json").rglob("*.json")}
    examples = pipeline_run["run_dir"] / "build-tfrecords" / "examples"
    checked = 0
    for serialized in tf.data.TFRecordDataset(record_files(examples, "validation")).take(3):
        example = tf.train.SequenceExample.FromString(serialized.numpy())
        media_id = example.context.feature["clip/media_id"].bytes_list.value[0].decode()
        from_records, _ = parse_clip(serialized, config.n_frames, config.imgz, training=False)
        from_video = video_clip(videos[media_id], config)
        np.testing.assert_array_equal(from_video.frames.numpy(), from_records.numpy())
        checked += 1
    assert checked == 3


def test_one_undecodable_video_is_reported_and_the_others_are_predicted(pipeline_run, dataloop_env,
                                                                       tmp_path):
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter

    dl = _dl(dataloop_env)
    model = dl.models.get(model_id=pipeline_run["registered"]["model_id"])
    dataset = dl.datasets.get(dataset_id=pipeline_run["dataset"]["id"])
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00 ftypisom" + b"x" * 500)
    (tmp_path / "notes.txt").write_text("hello")
    broken = dataset.items.upload(local_path=str(tmp_path / "broken.mp4"), remote_path="/incoming")
    good = dataset.items.get(filepath="/validation/up_000.mp4")
    adapter = MovinetAdapter(model)
    _, annotations = adapter.predict_items([good, broken])
    assert [f["item"] for f in adapter.failed_items] == [broken.id]
    assert "VideoDecodeError" in adapter.failed_items[0]["reason"]
    assert {a.item_id for a in annotations} == {good.id}
    text = dataset.items.upload(local_path=str(tmp_path / "notes.txt"), remote_path="/incoming")
    with pytest.raises(ValueError, match=f"item {text.id} \\(/incoming/notes.txt\\) is text/plain, not a video"):
        adapter.prepare_item_func(text)


def test_a_retraining_export_after_predictions_trains_on_ground_truth_only(pipeline_run, dataloop_env,
                                                                          sample_dir, tmp_path):
    """The loop production runs: the adapter predicts into the dataset, then the next retraining exports it."""
    from movinet_pipeline.core.sources.dataloop import export_dataloop
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter
    from tests.dataloop_emulator.seed import seed_dataset

    dl = _dl(dataloop_env)
    seeded = seed_dataset(dataloop_env.store, dataloop_env.project["id"], "predicted-into", sample_dir)
    before = export_dataloop(seeded["id"], tmp_path / "before")
    dataset = dl.datasets.get(dataset_id=seeded["id"])
    items = [item for page in dataset.items.list() for item in page if item.type == "file"]
    adapter = MovinetAdapter(dl.models.get(model_id=pipeline_run["registered"]["model_id"]))
    _, annotations = adapter.predict_items(items)
    predicted = len(items) * adapter.pipeline_config.top_k
    assert len([a for page in dataset.annotations.list() for a in page]) == before.clips + predicted
    after = export_dataloop(seeded["id"], tmp_path / "after")
    assert (after.clips, after.skipped, after.model_annotations_excluded) == (before.clips, 0, predicted)
    assert list(layouts.read_manifest(tmp_path / "after")) == list(layouts.read_manifest(tmp_path / "before"))
    reviewed = export_dataloop(seeded["id"], tmp_path / "reviewed", include_model_annotations=True)
    assert reviewed.clips == before.clips + predicted


def test_an_item_whose_name_would_leave_the_folder_is_predicted_from_bytes_and_never_written_there(
        pipeline_run, dataloop_env, tmp_path, monkeypatch):
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter

    dl = _dl(dataloop_env)
    store, dataset_id = dataloop_env.store, pipeline_run["dataset"]["id"]
    video = (pipeline_run["sample"] / "items" / "validation" / "up_000.mp4").read_bytes()
    escaping = "../../../../../../../../../../tmp/escaped-by-name.mp4"
    hostile = store.add_item(dataset_id, "/" + escaping, video)
    hostile["name"] = escaping  # what a hostile upload could make dtlpy join into a local path
    monkeypatch.chdir(tmp_path)
    adapter = MovinetAdapter(dl.models.get(model_id=pipeline_run["registered"]["model_id"]))
    _, annotations = adapter.predict_items([dl.items.get(item_id=hostile["id"])])
    assert adapter.failed_items == [] and {a.item_id for a in annotations} == {hostile["id"]}
    assert not Path("/tmp/escaped-by-name.mp4").exists()


def test_stream_mode_says_what_is_missing(pipeline_run, dataloop_env, tmp_path):
    """A model trained without causal (the whole run's model with its stream exports left out) in stream mode."""
    import shutil

    from movinet_pipeline.core.config import read_config
    from movinet_pipeline.core.model.inference import ModelLoadError
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter

    base_only = tmp_path / "model"
    shutil.copytree(pipeline_run["model"], base_only, ignore=shutil.ignore_patterns("stream*", "checkpoints", "logs"))
    configuration = {**read_config(base_only / "config.json").to_dict(), "model_mode": "stream"}
    adapter = MovinetAdapter()
    adapter.model_entity = _model_entity(_dl(dataloop_env), dataloop_env, configuration, name="base-only")
    with pytest.raises(ModelLoadError, match="no stream/ export"):
        adapter.load(str(base_only))


def test_stream_mode_training_is_refused(dataloop_env, tmp_path):
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter

    dl = _dl(dataloop_env)
    adapter = MovinetAdapter()
    adapter.model_entity = _model_entity(dl, dataloop_env, {**PipelineConfig().to_dict(), "model_mode": "stream"})
    with pytest.raises(ValueError, match="training is base mode only"):
        adapter.train(tmp_path / "data", tmp_path / "out")


class _TinyHubVideoModel(tf.Module):
    """Shaped like a TF Hub MoViNet: {"image": [B, T, H, W, 3]} -> logits; a mean-colour linear classifier."""

    def __init__(self, weights: np.ndarray):
        super().__init__()
        self.weights = tf.Variable(weights, dtype=tf.float32)

    @tf.function(input_signature=[{"image": tf.TensorSpec([None, None, None, None, 3], tf.float32)}])
    def __call__(self, inputs):
        return tf.reduce_mean(inputs["image"], axis=[1, 2, 3]) @ self.weights


def test_without_weights_the_adapter_loads_the_tf_hub_model_named_by_the_configuration(
        dataloop_env, monkeypatch, tmp_path, sample_dir):
    """The real handle (hub_version / model_id / model_mode) resolved through TF Hub's cache, where the test put a
    small model of its own (tfhub.dev is not reachable here).
    """
    from movinet_pipeline.core.model.network import hub_handle
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter

    config = PipelineConfig(model_id="a2", hub_version=3, imgz=32, n_frames=4)
    handle = hub_handle(config)
    assert handle == "https://tfhub.dev/tensorflow/movinet/a2/base/kinetics-600/classification/3"
    cache = tmp_path / "tfhub-cache"
    weights = np.eye(3, 4, dtype=np.float32) * 10  # red, green, blue mean -> classes 0, 1, 2
    tf.saved_model.save(_TinyHubVideoModel(weights), str(hub_cache_folder(cache, handle)))
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    dl = _dl(dataloop_env)
    adapter = MovinetAdapter()
    adapter.load_from_model(_model_entity(dl, dataloop_env, config.to_dict(), labels=["r", "g", "b", "k"]),
                            local_path=str(tmp_path / "artifacts"))
    assert adapter.model.source == f"TF Hub {handle}"
    red = np.zeros([1, 4, 32, 32, 3], np.float32)
    red[..., 0] = 1.0
    probabilities = adapter.model.probabilities(tf.constant(red))
    assert probabilities.argmax() == 0 and probabilities[0, 0] > 0.99


def test_without_weights_or_hub_the_adapter_serves_the_saved_model_in_the_artifacts(pipeline_run,
                                                                                     dataloop_env, tmp_path):
    import shutil

    from movinet_pipeline.core.config import read_config
    from movinet_pipeline.core.model.inference import video_clip
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter

    artifacts = tmp_path / "artifacts"
    shutil.copytree(pipeline_run["model"] / "saved_model", artifacts / "saved_model")
    config = read_config(pipeline_run["model"] / "config.json")
    dl = _dl(dataloop_env)
    adapter = MovinetAdapter()
    adapter.model_entity = _model_entity(dl, dataloop_env, config.to_dict())
    adapter.load(str(artifacts))
    assert adapter.model.source == f"SavedModel {artifacts / 'saved_model'}"
    with_weights = MovinetAdapter()
    with_weights.model_entity = adapter.model_entity
    with_weights.load(str(pipeline_run["model"]))
    assert with_weights.model.source.startswith("weights ")
    clip = video_clip(pipeline_run["sample"] / "items" / "validation" / "left_000.mp4", config).frames
    np.testing.assert_allclose(adapter.model.probabilities(clip[None]), with_weights.model.probabilities(clip[None]),
                               atol=1e-5)


def test_save_copies_every_artifact_file_a_registry_uploads_stream_models_included(dataloop_env, tmp_path):
    """The adapter's `save` and the registries share one list (layouts.ModelFolder.artifact_files)."""
    from movinet_pipeline.core import layouts
    from movinet_pipeline.core.clients.dataloop import connect
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter
    from tests.unit.core.test_layouts import ARTIFACTS, make_model_folder

    entity = _model_entity(connect(), dataloop_env, {"weights_filename": "model.weights.h5"})
    adapter = MovinetAdapter(entity)
    adapter.model_dir = make_model_folder(tmp_path / "trained")
    adapter.save(tmp_path / "upload")
    saved = sorted(str(p.relative_to(tmp_path / "upload")) for p in (tmp_path / "upload").rglob("*") if p.is_file())
    assert saved == sorted(ARTIFACTS)
    assert (tmp_path / "upload" / layouts.STREAM_TFLITE).read_bytes() == b"stream.tflite"


def test_the_models_calibration_rescales_confidences_and_its_thresholds_leave_out_unsure_labels(
        pipeline_run, dataloop_env, tmp_path):
    import shutil

    from movinet_pipeline.core.config import read_config
    from movinet_pipeline.core.model.calibration import Calibration
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter

    config = read_config(pipeline_run["model"] / "config.json").replace(top_k=4)
    dl = _dl(dataloop_env)
    entity = _model_entity(dl, dataloop_env, config.to_dict())
    item = dl.datasets.get(dataset_id=pipeline_run["dataset"]["id"]).items.get(
        filepath="/validation/left_000.mp4")

    def predictions(artifacts) -> list[tuple[str, float]]:
        adapter = MovinetAdapter()
        adapter.model_entity = entity
        adapter.load(str(artifacts))
        (collection,) = adapter.predict([adapter.prepare_item_func(item)])
        return [(a.label, a.metadata["user"]["model"]["confidence"]) for a in collection.annotations]

    plain = predictions(pipeline_run["model"])
    artifacts = tmp_path / "artifacts"
    shutil.copytree(pipeline_run["model"], artifacts, ignore=shutil.ignore_patterns("checkpoints", "logs"))
    top_label = plain[0][0]
    calibration = Calibration(temperature=3.0, target_precision=0.9, thresholds={top_label: None})
    calibration.write(artifacts)
    calibrated = predictions(artifacts)
    expected = calibration.rescale(np.array([[confidence for _, confidence in plain]]))[0]
    assert [label for label, _ in calibrated] == [label for label, _ in plain[1:]], "the top label left out"
    np.testing.assert_allclose([confidence for _, confidence in calibrated], expected[1:], rtol=1e-5)


def test_embed_items_uploads_one_normalised_vector_per_video_to_the_models_feature_set(pipeline_run,
                                                                                      dataloop_env, tmp_path):
    from movinet_pipeline.core.config import EMBEDDING_SIZES
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter

    dl = _dl(dataloop_env)
    model = dl.models.get(model_id=pipeline_run["registered"]["model_id"])
    assert model.configuration["embeddings_size"] == EMBEDDING_SIZES["a0"] == 480, "registered with its size"
    dataset = dl.datasets.get(dataset_id=pipeline_run["dataset"]["id"])
    videos = [dataset.items.get(filepath=f"/validation/{label}_{i:03d}.mp4") for label in ("left", "up")
              for i in range(3)]
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00 ftypisom" + b"x" * 300)
    broken = dataset.items.upload(local_path=str(tmp_path / "broken.mp4"), remote_path="/embed-broken")
    adapter = MovinetAdapter(model)
    items, vectors = adapter.embed_items(videos + [broken])
    assert [item.id for item in items] == [video.id for video in videos], "the undecodable video is left out"
    assert [f["item"] for f in adapter.failed_items] == [broken.id]

    (feature_set,) = [s for s in dataloop_env.store.feature_sets.values() if s["modelId"] == model.id]
    assert feature_set["size"] == 480 and feature_set["entityType"] == "item"
    stored = {f["entityId"]: np.array(f["value"]) for f in dataloop_env.store.features.values()
              if f["featureSetId"] == feature_set["id"]}
    assert set(stored) == {video.id for video in videos}
    matrix = np.stack([stored[video.id] for video in videos])
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(matrix, np.array(vectors), rtol=1e-6)
    _, again = adapter.embed_items(videos[:2], upload_features=False)
    np.testing.assert_allclose(np.array(again), matrix[:2], atol=1e-6, err_msg="deterministic")
    similarity = matrix @ matrix.T
    same = np.mean([similarity[i, j] for i in range(6) for j in range(6) if i != j and i // 3 == j // 3])
    other = np.mean([similarity[i, j] for i in range(6) for j in range(6) if i // 3 != j // 3])
    assert same > other, "clips of one label are closer to each other than to another label's"


def test_evaluate_model_predicts_the_subset_and_publishes_the_scores_dataloop_compares_models_by(
        pipeline_run, dataloop_env, sample_dir):
    import io

    import pandas as pd

    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter
    from tests.dataloop_emulator.seed import seed_dataset

    dl = _dl(dataloop_env)
    model = dl.models.get(model_id=pipeline_run["registered"]["model_id"])
    dataset = dl.datasets.get(dataset_id=seed_dataset(dataloop_env.store, dataloop_env.project["id"],
                                                      "evaluate-model", sample_dir)["id"])
    filters = dl.Filters(field="dir", values="/validation")
    adapter = MovinetAdapter(model)
    adapter.evaluate_model(model=model, dataset=dataset, filters=filters.prepare())
    validation = [i for i in dataloop_env.store.items.values()
                  if i["datasetId"] == dataset.id and i["dir"] == "/validation"]
    in_dataset = {i["id"] for i in dataloop_env.store.items.values() if i["datasetId"] == dataset.id}
    predicted = {a["itemId"] for a in dataloop_env.store.annotations.values() if a["itemId"] in in_dataset
                 and a["metadata"].get("user", {}).get("model", {}).get("name") == model.name}
    assert predicted == {i["id"] for i in validation}  # the subset only
    scores = {i["name"]: i for i in dataloop_env.store.items.values()
              if i["datasetId"] == dataset.id and i["dir"] == "/.modelscores"}
    assert set(scores) == {f"{model.id}.csv", f"{model.id}-interpolated.json"}
    table = pd.read_csv(io.BytesIO(dataloop_env.store.blobs[scores[f"{model.id}.csv"]["id"]]))
    ground_truth = table[table.first_id.notna()]
    assert len(ground_truth) == len(validation) and (table.second_id.notna()).sum() == len(validation)  # top-1 only
    assert ground_truth.label_score.mean() >= 0.75  # the model learned (chance 0.25): the pairs are right
    curves = json.loads(dataloop_env.store.blobs[scores[f"{model.id}-interpolated.json"]["id"]])
    assert max(curves["0.5"]["precision"]) > 0.5
    assert adapter.pipeline_config.top_k > 1 and adapter._top_k is None  # prediction outside evaluation unchanged

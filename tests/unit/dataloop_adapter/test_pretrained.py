"""The pretrained model as Dataloop users first meet it: TF Hub's Kinetics-600 heads named, counts that must agree,
TF Hub's stream MoViNets served frame by frame.

tfhub.dev is not reachable here: each test saves a small model of its own in TF Hub's cache under the real handle
(`TFHUB_CACHE_DIR`, the folder named by the handle's SHA-1), which is where TF Hub looks before the network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.model.kinetics import kinetics_600_labels
from movinet_pipeline.core.model.network import hub_cache_folder
from tests.shared_builds import stream_hub_clips
from tests.unit.dataloop_adapter.test_model_adapter import LABELS, _dl, _model_entity, _TinyHubVideoModel

RED_CLASS = 17  # "backflip (human)": what the tiny base-mode Hub model answers for a red clip


def _tiny_kinetics_hub_model(cache: Path, handle: str) -> None:
    """A base-mode 'Hub MoViNet' with 600 outputs: red clips -> RED_CLASS, green -> 18, blue -> 19."""
    weights = np.zeros([3, len(kinetics_600_labels())], np.float32)
    weights[[0, 1, 2], [RED_CLASS, RED_CLASS + 1, RED_CLASS + 2]] = 20.0
    tf.saved_model.save(_TinyHubVideoModel(weights), str(hub_cache_folder(cache, handle)))


def _red_video(tmp_path: Path) -> Path:
    from movinet_pipeline.core.media.sample_data import encode_video

    frames = np.zeros([16, 48, 48, 3], np.uint8)
    frames[..., 0] = 230
    encode_video(frames, tmp_path / "red.mp4", 8)
    return tmp_path / "red.mp4"


def test_the_kinetics_600_names_are_the_hub_heads_outputs_in_order():
    from movinet_pipeline.core.model.network import KINETICS_CLASSES

    labels = kinetics_600_labels()
    assert len(labels) == len(set(labels)) == KINETICS_CLASSES == 600
    assert (labels[0], labels[RED_CLASS], labels[-1]) == ("abseiling", "backflip (human)", "zumba")
    assert all(label == label.strip() and label for label in labels)


def test_a_hub_model_without_labels_of_its_own_predicts_kinetics_names(dataloop_env, monkeypatch, tmp_path):
    from movinet_pipeline.core.model.network import hub_handle
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter

    config = PipelineConfig(imgz=32, n_frames=4)
    _tiny_kinetics_hub_model(tmp_path / "hub", hub_handle(config))
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub"))
    dl = _dl(dataloop_env)
    dataset = dl.datasets.get(dataset_id=dataloop_env.store.add_dataset(dataloop_env.project["id"], "kinetics-red",
                                                                       labels=[])["id"])
    item = dataset.items.upload(local_path=str(_red_video(tmp_path)), remote_path="/")
    adapter = MovinetAdapter(_model_entity(dl, dataloop_env, config.to_dict(), labels=[], name="pretrained"))
    assert adapter.model.source.startswith("TF Hub") and adapter.model.labels == list(kinetics_600_labels())
    _, annotations = adapter.predict_items([item])
    assert [a.label for a in annotations][0] == "backflip (human)" and len(annotations) == config.top_k
    assert all(a.label in kinetics_600_labels() for a in annotations)
    stored = [a for a in dataloop_env.store.annotations.values() if a["itemId"] == item.id]
    assert sorted(a["label"] for a in stored) == sorted(a.label for a in annotations)


def test_labels_that_do_not_name_every_output_make_no_prediction(dataloop_env, monkeypatch, tmp_path):
    """A clone of the pretrained model given a 4-label dataset: its 600 outputs cannot be named by 4 labels."""
    from movinet_pipeline.core.model.inference import LabelCountMismatch, ModelLoadError
    from movinet_pipeline.core.model.network import hub_handle
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter

    config = PipelineConfig(imgz=32, n_frames=4)
    _tiny_kinetics_hub_model(tmp_path / "hub", hub_handle(config))
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub"))
    dl = _dl(dataloop_env)
    entity = _model_entity(dl, dataloop_env, config.to_dict(), labels=LABELS, name="clone")
    adapter = MovinetAdapter(entity)  # loads: training may still start from it
    assert adapter.model is None
    with pytest.raises(ModelLoadError) as raised:
        adapter.predict([])
    message = str(raised.value)
    assert "\n" not in message and entity.name in message and "600 outputs but 4 labels" in message
    assert "id_to_label_map" in message and "fine-tune" in message
    with pytest.raises(LabelCountMismatch, match="model 'x' has 3 outputs but 2 labels"):
        from movinet_pipeline.core.model.inference import check_label_count

        check_label_count("x", ["a", "b"], 3)


@pytest.fixture(scope="module")
def hub_stream_cache(tmp_path_factory):
    """TF Hub's a0 stream model for the default configuration in a TF Hub cache, and the same network's base-mode
    logits on known clips (tests/shared_builds.py).
    """
    from movinet_pipeline.core.model.network import hub_handle
    from tests.shared_builds import STREAM_HUB_SHAPE, built_once, save_kinetics_stream_hub_model

    handle = hub_handle(PipelineConfig(model_mode="stream"))
    assert handle == "https://tfhub.dev/tensorflow/movinet/a0/stream/kinetics-600/classification/3"
    cache = built_once(tmp_path_factory, "hub-stream-a0", save_kinetics_stream_hub_model)
    return {"cache": cache, "handle": handle, "imgz": STREAM_HUB_SHAPE[2], "frames": STREAM_HUB_SHAPE[1],
            "base_logits": np.load(cache / "expected.npz")["logits"]}


@pytest.mark.slow
@pytest.mark.own_process
def test_stream_mode_without_artifacts_serves_the_hub_stream_model_frame_by_frame(
        hub_stream_cache, dataloop_env, monkeypatch, tmp_path):
    from movinet_pipeline.core.model.inference import KerasStreamModel
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter

    monkeypatch.setenv("TFHUB_CACHE_DIR", str(hub_stream_cache["cache"]))
    imgz, frames = hub_stream_cache["imgz"], hub_stream_cache["frames"]
    config = PipelineConfig(model_mode="stream", imgz=imgz, n_frames=frames)
    dl = _dl(dataloop_env)
    adapter = MovinetAdapter(_model_entity(dl, dataloop_env, config.to_dict(), labels=[], name="pretrained-stream"))
    assert adapter.model.source == f"TF Hub {hub_stream_cache['handle']}"
    assert isinstance(adapter.model, KerasStreamModel)  # rebuilt from the Hub weights: the fast depthwise path
    assert adapter.model.labels == list(kinetics_600_labels())
    clips, base_logits = stream_hub_clips(), hub_stream_cache["base_logits"]
    stream_logits = np.concatenate([adapter.model.logits(clips[i : i + 1]) for i in range(2)])
    assert np.abs(base_logits).max() > 1e-2 and np.abs(base_logits[0] - base_logits[1]).max() > 1e-3
    np.testing.assert_allclose(stream_logits, base_logits, atol=1e-4, rtol=1e-4)

    dataset = dl.datasets.get(dataset_id=dataloop_env.store.add_dataset(
        dataloop_env.project["id"], "kinetics-stream", labels=[])["id"])
    item = dataset.items.upload(local_path=str(_red_video(tmp_path)), remote_path="/")
    _, annotations = adapter.predict_items([item])
    assert len(annotations) == config.top_k and all(a.label in kinetics_600_labels() for a in annotations)
    # temporal segments through the same frame-by-frame interface (the configuration is read at each prediction)
    adapter.model_entity.configuration["segment_seconds"] = 1.0
    _, found = adapter.predict_items([item])
    assert found and all(a.label in kinetics_600_labels() for a in found)


def test_stream_mode_from_hub_has_no_tflite_model(dataloop_env, monkeypatch, tmp_path):
    from movinet_pipeline.core.model.inference import ModelLoadError
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter

    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "empty-cache"))
    dl = _dl(dataloop_env)
    entity = _model_entity(dl, dataloop_env, {**PipelineConfig(model_mode="stream").to_dict(),
                                              "stream_model": "int8"}, labels=[], name="pretrained-int8")
    with pytest.raises(ModelLoadError, match="stream_model 'int8' needs the model's own TFLite export"):
        MovinetAdapter(entity)


def test_predict_dataset_predicts_every_video_the_filter_selects(dataloop_env, monkeypatch, tmp_path):
    """Dtlpy's `predict_dataset` (declared in the manifest) through the emulator, on the pretrained model."""
    import json

    import dtlpy as dl

    from movinet_pipeline.core.model.network import hub_handle
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter
    from tests.unit.dataloop_adapter.test_model_adapter import MANIFEST

    functions = {f["name"] for f in json.loads(MANIFEST.read_text())["components"]["modules"][0]["functions"]}
    assert {"predict_items", "predict_dataset", "embed_dataset", "train_model", "evaluate_model"} <= functions
    config = PipelineConfig(imgz=32, n_frames=4)
    _tiny_kinetics_hub_model(tmp_path / "hub", hub_handle(config))
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub"))
    client = _dl(dataloop_env)
    dataset = client.datasets.get(dataset_id=dataloop_env.store.add_dataset(
        dataloop_env.project["id"], "predict-dataset", labels=[])["id"])
    video = _red_video(tmp_path)
    selected = [dataset.items.upload(local_path=str(video), remote_path=f"/incoming/{n}") for n in ("a", "b")]
    other = dataset.items.upload(local_path=str(video), remote_path="/archive")
    adapter = MovinetAdapter(_model_entity(client, dataloop_env, config.to_dict(), labels=[], name="pretrained-ds"))
    filters = dl.Filters(field="dir", values="/incoming*")
    adapter.predict_dataset(dataset=dataset, filters=filters)
    by_item, ours = {}, {item.id for item in [*selected, other]}
    for annotation in dataloop_env.store.annotations.values():
        if annotation["itemId"] in ours:
            by_item.setdefault(annotation["itemId"], []).append(annotation["label"])
    assert set(by_item) == {item.id for item in selected} and other.id not in by_item
    assert all(labels.count("backflip (human)") == 1 and len(labels) == config.top_k for labels in by_item.values())


def test_the_committed_manifest_is_what_the_generator_makes():
    import json

    from movinet_pipeline.core.config import MODEL_IDS
    from movinet_pipeline.dataloop_adapter import manifest

    assert manifest.main(["--check"]) == 0  # else: python -m movinet_pipeline.dataloop_adapter.manifest
    committed = json.loads(manifest.MANIFEST.read_text())
    configs = {c["name"]: c["runtime"] for c in committed["components"]["computeConfigs"]}
    models = {m["configuration"]["model_id"]: m for m in committed["components"]["models"]}
    assert list(models) == list(MODEL_IDS)
    for model_id, model in models.items():
        assert model["labels"] == list(kinetics_600_labels()) and model["status"] == "pre-trained"
        assert model["configuration"]["imgz"] == manifest.RESOLUTIONS[model_id]
        assert set(model["computeConfigs"].values()) <= set(configs)
        assert configs[model["computeConfigs"]["deploy"]]["podType"] == manifest.pod_type(model_id)
    pods = [configs[models[model_id]["computeConfigs"]["deploy"]]["podType"] for model_id in MODEL_IDS]
    order = [pod for pod, _ in manifest.POD_MEMORY_MIB]
    assert [order.index(pod) for pod in pods] == sorted(order.index(pod) for pod in pods)  # larger sizes, larger pods


@pytest.fixture
def fresh_dataloop(monkeypatch):
    """An emulator of its own, with one empty project, where nobody has published the app yet."""
    from tests.dataloop_emulator.server import DataloopEmulator

    emulator = DataloopEmulator().start()
    emulator.project = emulator.store.add_project("first-use")
    monkeypatch.setenv("DATALOOP_ENV", emulator.url)
    monkeypatch.setenv("DATALOOP_API_KEY", emulator.issue_token())
    yield emulator
    emulator.stop()
    assert emulator.unknown_routes == [], f"dtlpy called routes the emulator does not serve: {emulator.unknown_routes}"


@pytest.mark.slow
@pytest.mark.own_process
def test_the_hub_model_is_served_by_the_fast_network_rebuilt_from_its_weights(dataloop_env, monkeypatch, hub_base_cache,
                                                                               sample_dir):
    """The pretrained base model is the project's MoViNet with the Hub model's weights (the depthwise taps), and it
    predicts what the Hub SavedModel predicts on the sample's videos: top-5 identical, probabilities within 1e-4.
    """
    import tensorflow_hub as hub

    from movinet_pipeline.core.model.fast_ops import DepthwiseConv3DTaps
    from movinet_pipeline.core.model.inference import video_clip
    from movinet_pipeline.core.model.network import hub_handle
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter

    config = PipelineConfig(imgz=48, n_frames=6)
    handle = hub_handle(config)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(hub_base_cache))
    adapter = MovinetAdapter(_model_entity(_dl(dataloop_env), dataloop_env, config.to_dict(), labels=[],
                                           name="pretrained"))
    assert adapter.model.source == f"TF Hub {handle}"
    assert any(isinstance(layer, DepthwiseConv3DTaps) for layer in adapter.model.keras_model.submodules)
    hub_layer = hub.KerasLayer(str(hub_cache_folder(hub_base_cache, handle)))  # the SavedModel as it is
    videos = sorted(sample_dir.rglob("*.mp4"))[::5]
    clips = tf.stack([video_clip(video, config).frames for video in videos])
    served = adapter.model.probabilities(clips)
    expected_logits = hub_layer({"image": clips}).numpy()
    expected = tf.nn.softmax(expected_logits).numpy()
    np.testing.assert_allclose(served, expected, atol=1e-4)
    np.testing.assert_allclose(np.log(served), tf.nn.log_softmax(expected_logits), atol=1e-3)  # every class
    np.testing.assert_array_equal(np.argsort(-served)[:, :5], np.argsort(-expected)[:, :5])
    assert len(videos) >= 4 and len({tuple(row) for row in np.argsort(-expected)[:, :5]}) > 1  # not one answer


@pytest.mark.slow
@pytest.mark.own_process
def test_a_hub_model_whose_settings_differ_without_weights_is_served_as_its_saved_model(
        dataloop_env, monkeypatch, tmp_path_factory, caplog):
    """A Hub MoViNet with the project's variables but another activation (a setting that holds no weights) loads
    into the rebuilt network without error; the probe clip catches it, and the Hub SavedModel serves instead.
    """
    import logging

    import tensorflow_hub as hub

    from movinet_pipeline.core.model import network
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter
    from tests.shared_builds import built_once, save_relu_kinetics_hub_model

    config = PipelineConfig(imgz=32, n_frames=4)
    handle = network.hub_handle(config)
    cache = built_once(tmp_path_factory, "hub-relu-a0", save_relu_kinetics_hub_model)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    caplog.set_level(logging.WARNING)
    adapter = MovinetAdapter(_model_entity(_dl(dataloop_env), dataloop_env, config.to_dict(), labels=[],
                                           name="pretrained-relu"))
    assert adapter.model.keras_model is None and adapter.model.source == f"TF Hub {handle}"
    assert any("does not give its logits on a probe clip" in r.getMessage() for r in caplog.records)
    clips = tf.random.stateless_uniform([2, 4, 32, 32, 3], seed=[4, 4])
    expected = tf.nn.softmax(hub.KerasLayer(str(hub_cache_folder(cache, handle)))({"image": clips}))
    np.testing.assert_allclose(adapter.model.probabilities(clips), expected, atol=1e-6)


def test_a_rebuilt_network_must_give_the_hub_models_logits():
    from movinet_pipeline.core.model.inference import _check_rebuilt

    hub = np.array([[2.0, -1.0, 0.5]])
    _check_rebuilt(hub + 1e-5, hub, "h")
    with pytest.raises(ValueError, match="largest difference 0.1"):
        _check_rebuilt(hub + [[0.0, 0.1, 0.0]], hub, "h")
    with pytest.raises(ValueError, match=r"shape \(1, 2\)"):
        _check_rebuilt(hub[:, :2], hub, "h")


@pytest.mark.slow
@pytest.mark.own_process
def test_first_use_install_the_app_clone_predict_in_both_modes_then_fine_tune(
        fresh_dataloop, hub_stream_cache, hub_base_cache, monkeypatch, tmp_path, sample_dir, caplog):
    """What a Dataloop user does first, through dtlpy: install the app from dataloop.json, predict with the
    pretrained model (Kinetics-600 names), clone it for stream mode, then clone it onto a 4-label dataset and
    fine-tune: the trained model's labels are the dataset's 4, not the 600.
    """
    import json
    import logging
    import shutil

    from movinet_pipeline.core.clients.dataloop import connect
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter
    from tests.dataloop_emulator.seed import seed_dataset
    from tests.unit.dataloop_adapter.test_model_adapter import MANIFEST

    cache = tmp_path / "hub"
    shutil.copytree(hub_stream_cache["cache"], cache)
    shutil.copytree(hub_base_cache, cache, dirs_exist_ok=True)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    monkeypatch.chdir(tmp_path)  # train_model's prepare_data works under ./tmp/<model id>
    dl = connect()
    project = dl.projects.get(project_id=fresh_dataloop.project["id"])
    dpk = project.dpks.publish(dpk=dl.Dpk.from_json(json.loads(MANIFEST.read_text()), client_api=dl.client_api,
                                                    project=project))
    app = project.apps.install(dpk=dpk)
    assert app.dpk_name == "movinet"
    pretrained = project.models.get(model_name="movinet-a0-base")
    assert pretrained.status == "pre-trained" and pretrained.labels == list(kinetics_600_labels())
    assert {m.name for page in project.models.list() for m in page} == {
        f"movinet-{size}-base" for size in ("a0", "a1", "a2", "a3", "a4", "a5")}

    videos = seed_dataset(fresh_dataloop.store, project.id, "directions", sample_dir)
    dataset = dl.datasets.get(dataset_id=videos["id"])
    item = dataset.items.get(filepath="/validation/up_000.mp4")
    _, annotations = MovinetAdapter(pretrained).predict_items([item])  # base mode, 172 px, 13 frames
    assert len(annotations) == 3 and all(a.label in kinetics_600_labels() for a in annotations)

    stream = project.models.clone(from_model=pretrained, model_name="pretrained-stream",
                                  configuration={"model_mode": "stream", "imgz": hub_stream_cache["imgz"],
                                                 "n_frames": hub_stream_cache["frames"]})
    streaming = MovinetAdapter(stream)
    assert streaming.model.source.startswith("TF Hub") and "/stream/" in streaming.model.source
    _, annotations = streaming.predict_items([item])
    assert len(annotations) == 3 and all(a.label in kinetics_600_labels() for a in annotations)

    subsets = {subset: dl.Filters(field="dir", values=f"/{subset}") for subset in ("train", "validation")}
    pretrained = project.models.get(model_name="movinet-a0-base")  # dtlpy's clone updated the entity's own config
    assert pretrained.configuration["model_mode"] == "base"
    clone = project.models.clone(from_model=pretrained, model_name="directions", dataset=dataset,
                                 configuration={"imgz": 32, "n_frames": 4, "num_epochs": 1, "batch_size": 4,
                                                "pretrained": "hub"},
                                 train_filter=subsets["train"], validation_filter=subsets["validation"])
    assert clone.labels == LABELS
    caplog.set_level(logging.WARNING)
    adapter = MovinetAdapter()
    trained = adapter.train_model(clone)
    assert any("has 600 outputs but 4 labels" in r.getMessage() for r in caplog.records)  # before training
    assert trained.status == "trained" and adapter.model.labels == LABELS
    stored = fresh_dataloop.store.models[clone.id]
    names = {fresh_dataloop.store.items[a["itemId"]]["name"] for a in stored["artifacts"]}
    assert {"model.weights.h5", "labels.json", "config.json"} <= names
    _, annotations = MovinetAdapter(dl.models.get(model_id=clone.id)).predict_items([item])
    assert len(annotations) == 3 and {a.label for a in annotations} <= set(LABELS)

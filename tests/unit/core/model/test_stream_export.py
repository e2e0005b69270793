"""A causal model trained in base mode gets a stream SavedModel; fed frame by frame it matches base mode, and the
adapter serves it in stream mode.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import read_config, resolve_config


@pytest.fixture(scope="module")
def causal_model(pipeline_run) -> dict:
    """The whole run's model (tests/conftest.py): causal, trained on the bundled sample until it learned, so its
    predictions on new videos mean something; its stream models were exported by the run's train step.
    """
    return {"examples": pipeline_run["examples"], "model": pipeline_run["model"],
            "evaluation": pipeline_run["evaluation"], "config": read_config(pipeline_run["model"] / layouts.CONFIG)}


def _validation_clips(causal_model: dict, count: int) -> tf.Tensor:
    from movinet_pipeline.core.model.input_pipeline import parse_clip, record_files

    config = causal_model["config"]
    records = tf.data.TFRecordDataset(record_files(causal_model["examples"], "validation")).take(count)
    return tf.stack([parse_clip(r, config.n_frames, config.imgz, training=False)[0] for r in records])


@pytest.mark.slow
def test_stream_logits_after_the_last_frame_match_base_mode(causal_model):
    from movinet_pipeline.core.model.inference import BaseModel, StreamModel

    model_dir = causal_model["model"]
    labels = layouts.read_labels(model_dir)
    config = causal_model["config"]
    base = BaseModel.from_weights(model_dir / config.weights_filename, config, labels)
    scales = [v.numpy() for v in base.keras_model.variables if v.name.endswith("/scale:0")]  # ReZero
    assert any(abs(s).max() > 1e-4 for s in scales), "ReZero scales still 0: parity would prove nothing"
    stream = StreamModel(model_dir / layouts.STREAM_MODEL, labels)
    clips = _validation_clips(causal_model, 3)
    serving = tf.saved_model.load(str(model_dir / layouts.SAVED_MODEL)).signatures["serving_default"]
    base_logits = serving(image=clips)["logits"].numpy()
    stream_logits = np.concatenate([stream.logits(clips[i : i + 1]) for i in range(len(clips))])
    np.testing.assert_allclose(stream_logits, base_logits, atol=1e-4, rtol=1e-4)
    assert np.abs(base_logits).max() > 1e-3  # not a degenerate all-zero output


@pytest.mark.slow
@pytest.mark.own_process
def test_a_causal_3d_model_gets_tflite_stream_models_that_match_it_frame_by_frame(tmp_path):
    """conv_type 3d (the pretrained layout) converts too: its depthwise convolutions and pooling are the fast 3D
    operations in the stream model, which are TFLite builtins where Model Garden's are not.
    """
    from movinet_pipeline.core.model import network
    from movinet_pipeline.core.model.inference import TfliteStreamModel
    from movinet_pipeline.core.model.stream_export import export_stream
    from tests.model_weights import perturb

    config = resolve_config(None, None, {"conv_type": "3d", "causal": True, "imgz": 32, "n_frames": 4})
    model = network.build_classifier(network.build_backbone("a0", "3d", causal=True), 4, 4, 32)
    perturb(model.variables, seed=11)
    clips = tf.random.stateless_uniform([2, 4, 32, 32, 3], seed=[11, 0])
    export_stream(model, config, 4, tmp_path, calibration_clips=list(clips))
    base = model(clips, training=False).numpy()
    assert np.abs(base).max() > 0.1 and np.abs(base[0] - base[1]).max() > 1e-3
    for precision, tolerance in (("float32", 1e-4), ("float16", 1e-2), ("int8", 0.1)):
        tflite = TfliteStreamModel(tmp_path / layouts.stream_tflite_name(precision), list("abcd"))
        logits = np.concatenate([tflite.logits(clips[i : i + 1]) for i in range(2)])
        np.testing.assert_allclose(logits, base, atol=tolerance * np.abs(base).max(), err_msg=precision)


@pytest.mark.slow
def test_the_tflite_stream_model_matches_base_mode_frame_by_frame(causal_model):
    from movinet_pipeline.core.model.inference import TfliteStreamModel

    model_dir = causal_model["model"]
    tflite = TfliteStreamModel(model_dir / layouts.STREAM_TFLITE, layouts.read_labels(model_dir))
    clips = _validation_clips(causal_model, 3)
    serving = tf.saved_model.load(str(model_dir / layouts.SAVED_MODEL)).signatures["serving_default"]
    base_logits = serving(image=clips)["logits"].numpy()
    tflite_logits = np.concatenate([tflite.logits(clips[i : i + 1]) for i in range(len(clips))])
    np.testing.assert_allclose(tflite_logits, base_logits, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_the_adapter_predicts_in_stream_mode(causal_model, dataloop_env, sample_dir):
    from movinet_pipeline.core.clients.dataloop import connect
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter
    from tests.dataloop_emulator.seed import seed_dataset
    from tests.unit.dataloop_adapter.test_model_adapter import _model_entity

    dl = connect()
    # a dataset of its own: the predictions it uploads must not become other tests' labels
    dataloop_dataset = seed_dataset(dataloop_env.store, dataloop_env.project["id"], "stream-predictions", sample_dir)
    config = causal_model["config"]
    entity = _model_entity(dl, dataloop_env, {**config.to_dict(), "model_mode": "stream"},
                           labels=layouts.read_labels(causal_model["model"]))
    adapter = MovinetAdapter()
    adapter.model_entity = entity
    adapter.load(str(causal_model["model"]))
    assert adapter.model.source.startswith("stream SavedModel")
    dataset = dl.datasets.get(dataset_id=dataloop_dataset["id"])
    items = [dataset.items.get(filepath=f"/validation/{label}_000.mp4") for label in ("down", "up")]
    _, annotations = adapter.predict_items(items)
    assert {a.item_id for a in annotations} == {item.id for item in items}
    assert len(annotations) == 2 * config.top_k
    stored = [a for a in dataloop_env.store.annotations.values()
              if a["metadata"].get("system", {}).get("model", {}).get("name") == entity.name]
    assert len(stored) == 2 * config.top_k


@pytest.mark.slow
@pytest.mark.parametrize("mode,stream_model", [("base", "savedmodel"), ("stream", "savedmodel"),
                                               ("stream", "int8")])
def test_the_adapter_labels_the_segments_of_a_long_video(causal_model, dataloop_env, tmp_path, mode, stream_model):
    """A video of sample clips back to back (two labels, three clips each) gets one class annotation per label
    run, over the frames of that run, in both modes (stream mode with the SavedModel and the int8 TFLite model).
    """
    from movinet_pipeline.core.clients.dataloop import connect
    from movinet_pipeline.core.media.sample_data import SampleSpec, encode_video, render_clip
    from movinet_pipeline.dataloop_adapter.model_adapter import MovinetAdapter
    from tests.unit.dataloop_adapter.test_model_adapter import _model_entity

    spec, rng = SampleSpec(), np.random.default_rng(7)
    runs = ["left"] * 3 + ["up"] * 3
    path = tmp_path / "long.mp4"
    encode_video(np.concatenate([render_clip(label, spec, rng) for label in runs]), path, spec.fps)
    dl = connect()
    dataset = dl.datasets.get(dataset_id=dataloop_env.store.add_dataset(
        dataloop_env.project["id"], f"long-video-{mode}-{stream_model}", labels=["down", "left", "right", "up"])["id"])
    item = dataset.items.upload(local_path=str(path), remote_path="/")
    clip_seconds = spec.frames / spec.fps
    entity = _model_entity(dl, dataloop_env, {**causal_model["config"].to_dict(), "model_mode": mode,
                                              "stream_model": stream_model, "segment_seconds": clip_seconds,
                                              "min_segment_seconds": 1.5 * clip_seconds},
                           labels=layouts.read_labels(causal_model["model"]), name=f"segments-{mode}-{stream_model}")
    adapter = MovinetAdapter()
    adapter.model_entity = entity
    adapter.load(str(causal_model["model"]))
    assert adapter.model.source.startswith({"base": "weights", "savedmodel": "stream SavedModel",
                                            "int8": "TFLite"}[stream_model if mode == "stream" else mode])
    _, annotations = adapter.predict_items([item])
    found = sorted((a.start_frame, a.end_frame, a.label) for a in annotations)
    assert [label for _, _, label in found] == ["left", "up"], found
    assert found[0][0] == 0 and found[-1][1] == len(runs) * spec.frames - 1
    assert found[0][1] + 1 == found[1][0] == 3 * spec.frames  # the boundary where the label changes
    stored = [a for a in dataloop_env.store.annotations.values() if a["itemId"] == item.id]
    assert sorted((a["metadata"]["system"]["frame"], a["metadata"]["system"]["endFrame"]) for a in stored) == [
        (start, end) for start, end, _ in found]


@pytest.mark.slow
def test_the_evaluation_measures_each_tflite_stream_model_against_float32(causal_model):
    evaluation = causal_model["evaluation"]
    rows = {r["precision"]: r for r in json.loads((evaluation / layouts.METRICS).read_text())["edge_models"]}
    assert list(rows) == ["float32", "float16", "int8"]
    assert rows["float32"]["top1_accuracy"] >= 0.9  # a model that learned: a change would show
    assert rows["int8"]["megabytes"] < rows["float16"]["megabytes"] < 0.6 * rows["float32"]["megabytes"]
    assert abs(rows["float16"]["top1_change"]) <= 0.02 and rows["float16"]["agreement_with_float32"] >= 0.98
    assert abs(rows["int8"]["top1_change"]) <= 0.1 and rows["int8"]["agreement_with_float32"] >= 0.9
    assert all(r["ms_per_frame"] > 0 for r in rows.values())
    report = (evaluation / layouts.REPORT).read_text()
    assert "Edge models (TFLite, stream)" in report and "stream_int8.tflite" in report

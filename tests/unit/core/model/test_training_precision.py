"""Mixed precision: training under a mixed policy learns, and the exported models are float32."""

import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import resolve_config


@pytest.mark.slow
def test_mixed_bfloat16_trains_and_exports_float32(exported_dir, tmp_path, caplog):
    from movinet_pipeline.core.examples.job import build_examples as build_tfrecords
    from movinet_pipeline.core.model.inference import BaseModel
    from movinet_pipeline.core.model.training import train

    config = resolve_config("cpu-sample", None, {"mixed_precision": "mixed_bfloat16", "imgz": 32, "n_frames": 4,
                                                 "num_epochs": 6, "num_shards": 1, "pretrained": "none",
                                                 "class_balance": "weights"})
    build_tfrecords(exported_dir, tmp_path / "examples", config, ["--direct_running_mode=in_memory"])
    caplog.set_level("INFO")
    train(tmp_path / "examples", tmp_path / "model", config)
    assert "mixed_bfloat16" in caplog.text
    assert "class_balance=weights over training clips per label" in caplog.text
    assert tf_keras.mixed_precision.global_policy().name == "float32"  # restored for whatever runs next
    history = json.loads((tmp_path / "model" / "history.json").read_text())
    assert history["loss"][-1] < 0.8 * history["loss"][0]  # it learns under the mixed policy
    serving = tf.saved_model.load(str(tmp_path / "model" / layouts.SAVED_MODEL)).signatures["serving_default"]
    clip = tf.random.uniform([2, config.n_frames, config.imgz, config.imgz, 3])
    logits = serving(image=clip)["logits"]
    assert logits.dtype == tf.float32
    labels = layouts.read_labels(tmp_path / "model")
    weights = BaseModel.from_weights(tmp_path / "model" / config.weights_filename, config, labels)
    np.testing.assert_allclose(weights.keras_model(clip, training=False).numpy(), logits.numpy(), atol=1e-5)


def test_float16_without_a_gpu_is_refused_with_the_alternatives(exported_dir, tmp_path):
    from movinet_pipeline.core.model.training import TrainError, train

    config = resolve_config("cpu-sample", None, {"mixed_precision": "mixed_float16"})
    with pytest.raises(TrainError, match="mixed_float16 needs a GPU.*mixed_bfloat16, float32 or auto"):
        train(tmp_path / "examples-not-needed", tmp_path / "model", config)

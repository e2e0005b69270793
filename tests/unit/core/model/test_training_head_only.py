
"""`freeze_backbone_epochs`: the first epochs train the new head on a frozen pretrained backbone, the rest fine-tune
everything.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from movinet_pipeline.core.config import resolve_config
from movinet_pipeline.core.model import network as modeling
from tests.unit.core.model.test_network import _kinetics_checkpoint


def _classifier(weights, config, num_classes: int):
    classifier = modeling.build_classifier(modeling.build_backbone(config.model_id, config.conv_type),
                                           num_classes, config.n_frames, config.imgz)
    classifier.load_weights(str(weights)).expect_partial()  # the optimizer slots stay behind
    return classifier


@pytest.mark.slow
@pytest.mark.own_process
def test_head_only_epochs_keep_the_pretrained_backbone_then_fine_tuning_moves_it(exported_dir, tmp_path):
    from movinet_pipeline.core.examples.job import build_examples as build_tfrecords
    from movinet_pipeline.core.model.training import train

    saved, prefix = _kinetics_checkpoint(tmp_path)
    config = resolve_config("cpu-sample", None, {"conv_type": "3d", "pretrained": prefix, "imgz": 32, "n_frames": 4,
                                                 "num_epochs": 2, "freeze_backbone_epochs": 1, "num_shards": 1,
                                                 "learning_rate": 0.01})
    build_tfrecords(exported_dir, tmp_path / "examples", config, ["--direct_running_mode=in_memory"])
    summary = train(tmp_path / "examples", tmp_path / "model", config)
    assert summary.epochs == 2
    history = json.loads((tmp_path / "model" / "history.json").read_text())
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["val_loss"]).all(), history
    head_only = _classifier(tmp_path / "model" / "checkpoints" / "head_only" / "weights", config, 4)
    for after, before in zip(head_only.backbone.variables, saved.variables, strict=True):
        np.testing.assert_array_equal(after.numpy(), before.numpy())  # weights and batch-norm statistics alike
    # The head did train in that phase: Adam took steps and holds a non-zero first moment for each of the head's
    # variables and for nothing else (slots are made for the variables trainable when compiled; a frozen backbone
    # gets none). A fresh head is non-zero too, so its values would prove nothing.
    reader = tf.train.load_checkpoint(str(tmp_path / "model" / "checkpoints" / "head_only" / "weights"))
    assert reader.get_tensor("optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE") > 0
    first_moments = [reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
                     if key.endswith("/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE")]
    head = [variable for variable in head_only.trainable_variables
            if not any(variable is v for v in head_only.backbone.trainable_variables)]
    assert sorted(moment.shape for moment in first_moments) == sorted(tuple(v.shape) for v in head)
    assert all(np.abs(moment).max() > 0 for moment in first_moments)
    last = _classifier(tmp_path / "model" / "checkpoints" / "last" / "weights", config, 4)
    moved = [not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(last.backbone.variables, saved.variables)]
    assert sum(moved) > len(moved) // 2, "fine-tuning after the warm-up did not train the backbone"

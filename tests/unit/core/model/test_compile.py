"""Compiling for training: the optimizer's slots exist before the first step, so the train step is traced once."""

import numpy as np
import tf_keras

from movinet_pipeline.core.model.training import _compile, _sparse_loss


def _model() -> tf_keras.Model:
    return tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(4, name="body"),
                                tf_keras.layers.Dense(2, name="head")])


def test_the_train_step_is_traced_once_with_slots_for_the_trainable_variables_only():
    model = _model()
    model.get_layer("body").trainable = False  # a frozen backbone gets no slots
    optimizer = tf_keras.optimizers.legacy.Adam(0.01)
    _compile(model, optimizer, _sparse_loss(0.0))
    head = model.get_layer("head").trainable_variables
    assert sorted(v.name for v in optimizer.variables() if "/m:" in v.name) == sorted(
        f"{v.name.removesuffix(':0')}/m:0" for v in head)
    model.fit(np.ones((8, 3)), np.array([0, 1] * 4), batch_size=4, epochs=2, verbose=0)
    # a step that made the slots on its first call would have been traced a second time without them
    assert model.train_function.experimental_get_tracing_count() == 1

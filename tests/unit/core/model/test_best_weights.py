"""The best epoch's weights: written on each improvement of validation accuracy, read back by position."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from movinet_pipeline.core.model.training import TrainError, _BestWeights, _check_best_weights, _weights_checkpoint


class _Block(tf_keras.layers.Layer):
    """Sublayers with and without non-trainable variables, as a MoViNet block has."""

    def __init__(self) -> None:
        super().__init__()
        self.dense, self.norm, self.out = (tf_keras.layers.Dense(3), tf_keras.layers.BatchNormalization(),
                                           tf_keras.layers.Dense(2))

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return self.out(self.norm(self.dense(inputs)))


def _model() -> tf_keras.Model:
    model = tf_keras.Sequential([tf_keras.Input((2,)), _Block()])
    model.compile(tf_keras.optimizers.legacy.Adam(0.1), "mse")
    model.fit(np.ones((4, 2)), np.ones((4, 2)), verbose=0)  # the optimizer has slots now
    return model


def _set_all(model: tf_keras.Model, value: float) -> None:
    for variable in model.weights:
        variable.assign(tf.fill(variable.shape, value))


def test_only_an_improvement_is_written_and_it_reads_back_after_the_trainable_layers_change(tmp_path):
    model = _model()
    variables = list(model.weights)
    model.layers[0].trainable = False  # as the head-only warm-up freezes the backbone: Keras reorders `weights`
    assert [v.name for v in model.weights] != [v.name for v in variables]
    callback = _BestWeights(variables, tmp_path / "best" / "weights", best_so_far=0.4)
    callback.set_model(model)
    for epoch, (value, accuracy) in enumerate([(1.0, 0.3), (2.0, 0.7), (3.0, 0.6), (4.0, 0.7)]):
        _set_all(model, value)
        callback.on_epoch_end(epoch, {"val_accuracy": accuracy})
    model.layers[0].trainable = True
    _set_all(model, 0.0)
    _weights_checkpoint(variables).read(str(tmp_path / "best" / "weights")).assert_consumed()
    for variable in model.weights:
        np.testing.assert_array_equal(variable.numpy(), np.full(variable.shape, 2.0), err_msg=variable.name)
    stored = tf.train.load_checkpoint(str(tmp_path / "best" / "weights")).get_variable_to_shape_map()
    assert not [key for key in stored if "OPTIMIZER_SLOT" in key or key.startswith("optimizer")]


def test_nothing_is_written_without_beating_the_best_already_logged(tmp_path):
    model = _model()
    callback = _BestWeights(list(model.weights), tmp_path / "best" / "weights", best_so_far=0.8)
    callback.set_model(model)
    callback.on_epoch_end(0, {"val_accuracy": 0.8})
    callback.on_epoch_end(1, {"loss": 0.1})  # no validation this epoch
    assert not (tmp_path / "best").exists()


def test_a_run_cannot_resume_over_another_models_best_weights(tmp_path):
    model = _model()
    prefix = tmp_path / "checkpoints" / "best" / "weights"
    _check_best_weights(prefix, list(model.weights))  # nothing there yet: nothing to check
    _weights_checkpoint(list(model.weights)).write(str(prefix))
    _check_best_weights(prefix, list(model.weights))
    other = tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(5)])
    with pytest.raises(TrainError, match="holds another model's weights") as error:
        _check_best_weights(prefix, list(other.weights))
    assert str(prefix) in str(error.value) and "new output folder" in str(error.value)

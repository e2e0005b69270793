"""The fast 3D operations equal Model Garden's: depthwise convolutions by taps against its grouped Conv3D layer by layer
(every padding mode, stride and kernel shape MoViNet uses), frame-wise pooling, whole networks (base, causal, stream
frame by frame; a0 and a2), gradients, and weight files moving between the two.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from official.vision.modeling.layers import nn_layers

from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.model import network
from movinet_pipeline.core.model.fast_ops import (
    DepthwiseConv3DTaps,
    FramewiseAveragePooling3D,
    PlainConv3D,
    is_depthwise_conv3d,
    is_framewise_pooling,
    is_plain_conv3d,
    use_fast_ops,
)
from tests.model_weights import perturb


def _layer_pair(kernel: tuple, strides: tuple, padding: str, buffered: bool, channels: int):
    """Model Garden's depthwise Conv3D and the same layer switched to taps, with equal random weights."""
    layers = []
    for _ in range(2):
        layer = nn_layers.Conv3D(channels, kernel, strides=strides, padding=padding, groups=channels,
                                 use_bias=True, use_buffered_input=buffered)
        layer.build([None, None, None, None, channels])
        layers.append(layer)
    reference, fast = layers
    rng = np.random.default_rng(0)
    reference.set_weights([rng.normal(0, 1, w.shape).astype(np.float32) for w in reference.get_weights()])
    fast.set_weights(reference.get_weights())
    fast.__class__ = DepthwiseConv3DTaps
    return reference, fast


@pytest.mark.parametrize("kernel, strides, padding, buffered", [
    ((3, 3, 3), (1, 1, 1), "same", False),
    ((5, 5, 5), (1, 2, 2), "same", False),
    ((3, 3, 3), (2, 2, 2), "same", False),
    ((3, 1, 1), (1, 1, 1), "same", False),   # conv_type 3d_2plus1d's temporal part
    ((1, 5, 5), (1, 2, 2), "same", False),   # and its spatial part
    ((3, 3, 3), (1, 1, 1), "causal", False),
    ((5, 3, 3), (1, 2, 2), "causal", False),
    ((3, 3, 3), (1, 1, 1), "causal", True),  # the stream model: frames buffered before it, 'valid' in time
    ((5, 5, 5), (1, 2, 2), "causal", True),
])
@pytest.mark.parametrize("frames, size", [(7, 9), (6, 10)])  # a buffered input holds k_t - 1 frames more
def test_taps_equal_model_gardens_conv3d_and_its_gradients(kernel, strides, padding, buffered, frames, size):
    reference, fast = _layer_pair(kernel, strides, padding, buffered, channels=6)
    clip = tf.random.stateless_normal([2, frames, size, size, 6], seed=[1, 2])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(clip)
        expected, actual = reference(clip), fast(clip)
        expected_loss, actual_loss = tf.reduce_sum(expected ** 2), tf.reduce_sum(actual ** 2)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)
    for expected_grad, actual_grad in zip(tape.gradient(expected_loss, [clip, *reference.trainable_variables]),
                                          tape.gradient(actual_loss, [clip, *fast.trainable_variables]), strict=True):
        np.testing.assert_allclose(actual_grad, expected_grad, rtol=1e-3, atol=1e-3)


def test_only_3d_convolutions_and_framewise_pooling_are_switched_and_the_variables_stay():
    backbone = network.build_backbone("a0", causal=True, fast_ops=False)
    names = [v.name for v in backbone.variables]
    depthwise = [layer for layer in backbone.submodules if is_depthwise_conv3d(layer)]
    pooling = [layer for layer in backbone.submodules if is_framewise_pooling(layer)]
    plain = [layer for layer in backbone.submodules if is_plain_conv3d(layer)]
    assert use_fast_ops(backbone) == len(depthwise) + len(pooling) + len(plain) and depthwise and pooling and plain
    assert all(isinstance(layer, DepthwiseConv3DTaps) for layer in depthwise)
    assert all(isinstance(layer, FramewiseAveragePooling3D) for layer in pooling)
    assert all(type(layer) is PlainConv3D and layer.groups == 1 for layer in plain)
    assert len(plain) + len(depthwise) == len([layer for layer in backbone.submodules
                                               if isinstance(layer, nn_layers.Conv3D)])  # no XLA-wrapped one left
    assert [v.name for v in backbone.variables] == names
    assert use_fast_ops(backbone) == 0  # idempotent


@pytest.mark.parametrize("size", [9, 10])
def test_framewise_pooling_equals_keras_average_pooling_3d(size):
    reference = tf_keras.layers.AveragePooling3D((1, 3, 3), (1, 2, 2), padding="same")
    fast = tf_keras.layers.AveragePooling3D((1, 3, 3), (1, 2, 2), padding="same")
    fast.__class__ = FramewiseAveragePooling3D
    clip = tf.random.stateless_normal([2, 3, size, size, 5], seed=[9, 9])
    np.testing.assert_allclose(fast(clip), reference(clip), rtol=1e-6, atol=1e-6)


def _classifier_pair(model_id: str, causal: bool, tmp_path):
    """The same classifier (perturbed weights) with Model Garden's kernel and with taps; the taps model loads the
    reference's tf_keras weights file, as a registered model's weights are loaded.
    """
    reference = network.build_classifier(network.build_backbone(model_id, causal=causal, fast_ops=False), 5,
                                         FRAMES, SIZE)
    perturb(reference.variables, seed=7)
    reference.save_weights(str(tmp_path / "model.weights.h5"))
    fast = network.build_classifier(network.build_backbone(model_id, causal=causal, fast_ops=True), 5,
                                    FRAMES, SIZE)
    fast.load_weights(str(tmp_path / "model.weights.h5"))
    assert not [layer for layer in fast.submodules if type(layer) is nn_layers.Conv3D], "an XLA-wrapped Conv3D left"
    return reference, fast


def _assert_same_logits(reference, fast, clips: tf.Tensor) -> None:
    expected = reference(clips, training=False).numpy()
    np.testing.assert_allclose(fast(clips, training=False), expected, rtol=1e-4, atol=1e-4)
    assert np.abs(expected).max() > 0.1 and np.abs(expected[0] - expected[-1]).max() > 1e-3  # not degenerate


FRAMES, SIZE = 4, 32
CLIPS = tf.random.stateless_uniform([2, FRAMES, SIZE, SIZE, 3], seed=[3, 4])


@pytest.mark.slow
def test_a0_by_taps_gives_model_gardens_logits_and_gradients_from_its_weights_file(tmp_path):
    reference, fast = _classifier_pair("a0", causal=False, tmp_path=tmp_path)
    _assert_same_logits(reference, fast, CLIPS)
    labels = tf.constant([1, 3])
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    gradients = []
    for model in (reference, fast):
        with tf.GradientTape() as tape:
            value = loss(labels, model(CLIPS, training=True))
        gradients.append(tape.gradient(value, model.trainable_variables))
    for variable, expected, actual in zip(reference.trainable_variables, *gradients, strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-3, atol=1e-5, err_msg=variable.name)


@pytest.mark.slow
def test_a2_by_taps_gives_model_gardens_logits(tmp_path):
    _assert_same_logits(*_classifier_pair("a2", causal=False, tmp_path=tmp_path), CLIPS)


@pytest.mark.slow
def test_causal_a0_by_taps_gives_model_gardens_logits_in_base_mode_and_frame_by_frame(tmp_path):
    from movinet_pipeline.core.model.stream_export import build_stream_classifier

    reference, fast = _classifier_pair("a0", causal=True, tmp_path=tmp_path)
    _assert_same_logits(reference, fast, CLIPS)
    stream = build_stream_classifier(PipelineConfig(model_id="a0", causal=True, imgz=SIZE, n_frames=FRAMES), 5)
    stream.set_weights(reference.get_weights())
    clip = CLIPS[:1]
    step = tf.function(lambda inputs: stream(inputs, training=False))  # traced once: eager frames are slow
    states = stream.init_states(clip.shape)
    for t in range(FRAMES):
        logits, states = step({**states, "image": clip[:, t : t + 1]})
    np.testing.assert_allclose(logits, reference(clip, training=False), rtol=1e-4, atol=1e-4)



@pytest.mark.slow
def test_the_fast_path_trains_under_mixed_bfloat16():
    """mixed_bfloat16 (the trainer's CPU mixed precision) with conv_type 3d: the taps run in bfloat16, give the float32
    network's logits to bfloat16's precision, and every trainable variable (kept in float32) gets a gradient.
    """
    fast = network.build_classifier(network.build_backbone("a0", fast_ops=True), 5, FRAMES, SIZE)
    perturb(fast.variables, seed=8)
    expected = fast(CLIPS, training=False).numpy()
    tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = network.build_classifier(network.build_backbone("a0", fast_ops=True), 5, FRAMES, SIZE)
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    mixed.set_weights(fast.get_weights())
    taps = [layer for layer in mixed.submodules if isinstance(layer, DepthwiseConv3DTaps)]
    assert taps and all(layer.compute_dtype == "bfloat16" for layer in taps)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.cast(mixed(CLIPS, training=True), tf.float32) ** 2)
    gradients = tape.gradient(loss, mixed.trainable_variables)
    assert all(v.dtype == tf.float32 for v in mixed.trainable_variables)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in gradients)
    np.testing.assert_allclose(mixed(CLIPS, training=False), expected, atol=0.1 * np.abs(expected).max())

"""MoViNet's 3D operations on fast (and TFLite builtin) kernels: depthwise 3D convolutions as temporal taps.

Model Garden computes a depthwise k_t x k_h x k_w convolution as a grouped `Conv3D` that it forces through XLA, and on
CPU that kernel is 100-220x slower than the arithmetic needs (benchmarks/depthwise3d.py). The same convolution is
exactly the sum over its k_t temporal taps of depthwise k_h x k_w 2D convolutions of the time-shifted frames: the same
multiply-adds in another order, on TensorFlow's fast depthwise 2D kernel, which TFLite also has as a builtin.

Its skip blocks' 1 x 3 x 3 average pooling is likewise computed frame by frame in 2D: the same values, and TFLite has
no AvgPool3D builtin (with the grouped Conv3D, what kept conv_type 3d models from TFLite).

Its other (ungrouped) 3D convolutions Model Garden also wraps in a new XLA-compiled function at every call, which
TensorFlow's own Conv3D kernel does not need: each trace then compiles and caches another XLA cluster per layer, which
costs time and memory that is never given back (building, tracing and differentiating an a0 took 40 % longer and
grew the process twice as much; `benchmarks/RESULTS.md`). They are called on TensorFlow's kernel, the same values.

`use_fast_ops(model)` is the one place a network is switched: each such layer of Model Garden's MoViNet becomes the
subclass below in place, the same object with the same variables, names and configuration, so checkpoints, TF Hub
weights and registered weight files load unchanged; only how it computes changes.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras
from official.vision.modeling.layers import nn_layers


def depthwise_conv3d_taps(inputs: tf.Tensor, kernel: tf.Tensor, strides: tuple[int, int, int],
                          padding: str) -> tf.Tensor:
    """A depthwise 3D convolution ([B, T, H, W, C] by a grouped kernel [k_t, k_h, k_w, 1, C]) as temporal taps.

    `padding` is TensorFlow's "SAME" or "VALID", for time as for space (causal padding is applied by the caller).
    """
    k_t = kernel.shape[0]
    s_t, s_h, s_w = strides
    if padding == "SAME":
        frames = tf.shape(inputs)[1]
        pad_total = tf.maximum((-(-frames // s_t) - 1) * s_t + k_t - frames, 0)
        inputs = tf.pad(inputs, [[0, 0], [pad_total // 2, pad_total - pad_total // 2], [0, 0], [0, 0], [0, 0]])
    dynamic = tf.shape(inputs)
    channels = inputs.shape[4]
    out_frames = (dynamic[1] - k_t) // s_t + 1
    tap_kernels = tf.unstack(tf.transpose(kernel, [0, 1, 2, 4, 3]))  # k_t x [k_h, k_w, C, 1]: depthwise 2D filters
    outputs = None
    for tap, tap_kernel in enumerate(tap_kernels):
        shifted = inputs[:, tap : tap + (out_frames - 1) * s_t + 1 : s_t]
        flat = tf.reshape(shifted, [-1, dynamic[2], dynamic[3], channels])
        convolved = tf.nn.depthwise_conv2d(flat, tap_kernel, [1, s_h, s_w, 1], padding)
        outputs = convolved if outputs is None else outputs + convolved
    out_shape = tf.shape(outputs)
    result = tf.reshape(outputs, [dynamic[0], out_frames, out_shape[1], out_shape[2], channels])
    static_frames = inputs.shape[1]
    result.set_shape([inputs.shape[0], None if static_frames is None else (static_frames - k_t) // s_t + 1,
                      outputs.shape[1], outputs.shape[2], channels])
    return result


@tf_keras.utils.register_keras_serializable(package="MovinetPipeline")
class DepthwiseConv3DTaps(nn_layers.Conv3D):
    """Model Garden's depthwise `Conv3D` (same variables, padding modes and stream buffering), computed by taps."""

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """The convolution of `inputs` [B, T, H, W, C], padded as Model Garden's Conv3D pads them."""
        padding = self.padding.upper()
        if self._is_causal:  # causal or buffered (stream) time, 'same' space: explicit padding, then VALID
            inputs = tf.pad(inputs, self._compute_causal_padding(inputs))
            padding = "VALID"
        outputs = depthwise_conv3d_taps(inputs, self.kernel, tuple(self.strides), padding)
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs) if self.activation is not None else outputs


@tf_keras.utils.register_keras_serializable(package="MovinetPipeline")
class PlainConv3D(nn_layers.Conv3D):
    """Model Garden's (ungrouped) `Conv3D`, on TensorFlow's Conv3D kernel instead of a new XLA function per call."""

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """The convolution of `inputs` [B, T, H, W, C], causal or buffered padding included (Keras' Conv3D)."""
        return tf_keras.layers.Conv3D.call(self, inputs)


@tf_keras.utils.register_keras_serializable(package="MovinetPipeline")
class FramewiseAveragePooling3D(tf_keras.layers.AveragePooling3D):
    """An average pooling of one frame in time (pool and stride 1 in time), computed frame by frame in 2D."""

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """Pool each frame of `inputs` [B, T, H, W, C]."""
        shape = tf.shape(inputs)
        frames = tf.reshape(inputs, [-1, shape[2], shape[3], inputs.shape[4]])
        pooled = tf.nn.avg_pool2d(frames, self.pool_size[1:], self.strides[1:], self.padding.upper())
        out_shape = tf.shape(pooled)
        return tf.reshape(pooled, [shape[0], shape[1], out_shape[1], out_shape[2], inputs.shape[4]])


def is_depthwise_conv3d(layer: tf_keras.layers.Layer) -> bool:
    """Whether `layer` is one of Model Garden's depthwise 3D convolutions (a Conv3D with one group per channel)."""
    return (isinstance(layer, nn_layers.Conv3D) and layer.built and layer.groups > 1
            and layer.groups == layer.filters and layer.kernel.shape[-2] == 1
            and layer.dilation_rate == (1, 1, 1) and layer.data_format == "channels_last")


def is_plain_conv3d(layer: tf_keras.layers.Layer) -> bool:
    """Whether `layer` is one of Model Garden's ungrouped 3D convolutions (XLA-wrapped at every call)."""
    return type(layer) is nn_layers.Conv3D and layer.groups == 1


def is_framewise_pooling(layer: tf_keras.layers.Layer) -> bool:
    """Whether `layer` is a 3D average pooling that never mixes frames (pool and stride 1 in time)."""
    return (isinstance(layer, tf_keras.layers.AveragePooling3D) and layer.pool_size[0] == layer.strides[0] == 1
            and layer.data_format == "channels_last")


def use_fast_ops(model: tf_keras.layers.Layer) -> int:
    """Switch every 3D convolution and frame-wise 3D pooling of the built `model`; the number switched.

    Each layer keeps its identity and variables (its class becomes the subclass above), so the rewrite is invisible
    to checkpoints and weight files and can be applied before or after weights are loaded. Idempotent.
    """
    switched = 0
    for layer in model.submodules:
        if is_depthwise_conv3d(layer) and not isinstance(layer, DepthwiseConv3DTaps):
            layer.__class__ = DepthwiseConv3DTaps
        elif is_plain_conv3d(layer):
            layer.__class__ = PlainConv3D
        elif is_framewise_pooling(layer) and not isinstance(layer, FramewiseAveragePooling3D):
            layer.__class__ = FramewiseAveragePooling3D
        else:
            continue
        switched += 1
    return switched


def uses_fast_ops(model: tf_keras.layers.Layer) -> bool:
    """Whether any layer of `model` was switched by `use_fast_ops`."""
    return any(isinstance(layer, (DepthwiseConv3DTaps, PlainConv3D, FramewiseAveragePooling3D))
               for layer in model.submodules)

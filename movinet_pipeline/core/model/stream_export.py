"""Stream export of a causal MoViNet trained in base mode: SavedModel and TFLite models taking one frame a call.

The stream model is the same network built with external states (`use_external_states=True`,
`output_states=True`); the trained weights are copied over variable by variable. Signatures, as Model Garden's
stream SavedModels: `init_states(input_shape int32[5]) -> states` and `call(**states, image[1, t, H, W, 3]) ->
{**states, "logits"}`. The TFLite model has `call` for exactly one frame (`image[1, 1, H, W, 3]`); its states start
at zero, as `init_states` makes them. Every conv_type converts: the stream model uses the fast 3D operations
(fast_ops.py: depthwise 2D convolutions and 2D pooling, TFLite builtins, where Model Garden's ops are not). Exported in
float32 (external states break under a mixed-precision policy).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import tensorflow as tf
import tf_keras
from official.projects.movinet.modeling import movinet_model

from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.model.fast_ops import use_fast_ops
from movinet_pipeline.core.model.network import (
    KINETICS_CLASSES,
    build_backbone,
    check_hub_movinet,
    hub_model_dir,
    load_hub_classifier,
)

log = logging.getLogger(__name__)


def build_stream_classifier(config: PipelineConfig, num_classes: int,
                            fast_ops: bool = True) -> movinet_model.MovinetClassifier:
    """A causal stream classifier (external states) shaped like the trained one.

    With the fast 3D operations unless `fast_ops` is False: stream models are served on CPU and converted to TFLite.
    """
    backbone = build_backbone(config.model_id, config.conv_type, config.norm_momentum, causal=True,
                              external_states=True, fast_ops=fast_ops)
    model = movinet_model.MovinetClassifier(backbone=backbone, num_classes=num_classes, output_states=True)
    frame = [1, 1, config.imgz, config.imgz, 3]
    model({**model.init_states(frame), "image": tf.zeros(frame)})  # creates every variable, states included
    if fast_ops:
        use_fast_ops(model)  # the head's pointwise Conv3D too
    return model


def hub_stream_classifier(model_id: str, handle: str, imgz: int) -> movinet_model.MovinetClassifier:
    """The TF Hub Kinetics-600 stream classifier `handle` rebuilt as the project's causal MoViNet-`model_id`.

    Like network.hub_classifier, for stream mode: the Hub model's weights (head included) in the project's stream
    network, so its depthwise 3D convolutions take the fast path. ValueError when the Hub model is not that network.
    """
    model_dir = hub_model_dir(handle, download=True)
    check_hub_movinet(model_dir, handle)
    stream = build_stream_classifier(PipelineConfig(model_id=model_id, conv_type="3d", causal=True, imgz=imgz),
                                     KINETICS_CLASSES)
    load_hub_classifier(stream, model_dir, handle)
    return stream


def _state_specs(stream: movinet_model.MovinetClassifier, input_shape: list) -> dict[str, tf.TensorSpec]:
    specs = {name: tf.TensorSpec(spec.shape, spec.dtype, name=name)
             for name, spec in stream.initial_state_specs(input_shape).items()}
    specs["image"] = tf.TensorSpec(input_shape, tf.float32, name="image")
    return specs


def representative_frames(stream: movinet_model.MovinetClassifier, step: Callable[[dict], dict],
                          clips: Iterable[tf.Tensor]) -> Iterator[dict[str, tf.Tensor]]:
    """Calibration inputs for int8: each frame of each clip [T, H, W, 3] with the float states it meets there.

    As Model Garden's quantize_movinet.py: the clip is fed frame by frame to the float stream model (`step`, its
    traced call: states and image in, states and logits out; an eager call of the network costs seconds per frame)
    and each frame's input states are what the previous frames left, so the activations quantized are those of real
    streams.
    """
    for clip in clips:
        frames = tf.convert_to_tensor(clip)[None]
        states = stream.init_states([1, 1, *frames.shape[2:]])
        for t in range(int(frames.shape[1])):
            frame = frames[:, t : t + 1]
            yield {**states, "image": frame}
            states = {name: value for name, value in step({**states, "image": frame}).items() if name != "logits"}


def _tflite(frame_model: Path, precision: str, representative: list[dict[str, tf.Tensor]]) -> bytes:
    """The one-frame SavedModel converted at `precision` (float32, float16 weights, or int8 with float fallback)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(str(frame_model), signature_keys=["serving_default"])
    if precision == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":  # Model Garden's int_float_fallback: float inputs and states, int8 inside
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: iter(representative)  # keyed by the signature's input names
    return converter.convert()


def export_stream(trained: tf_keras.Model, config: PipelineConfig, num_classes: int, output_dir: str | Path,
                  calibration_clips: Iterable[tf.Tensor] = ()) -> None:
    """Export a causal classifier's stream models.

    Copy `trained` (a causal base-mode classifier) into a stream model; save it as a SavedModel (STREAM_MODEL)
    and as TFLite in float32, float16 and (with `calibration_clips`, float frames
    [T, H, W, 3]) int8 (layouts.stream_tflite_name; otherwise a warning says why there is none).
    """
    output_dir = Path(output_dir)
    stream = build_stream_classifier(config, num_classes)
    stream.set_weights(trained.get_weights())

    @tf.function
    def call(inputs: dict) -> dict:
        logits, states = stream(inputs, training=False)
        return {**states, "logits": logits}

    @tf.function(input_signature=[tf.TensorSpec([5], tf.int32, name="input_shape")])
    def init_states(input_shape: tf.Tensor) -> dict:
        return stream.init_states(input_shape)

    module = tf.Module()
    module.model_variables = list(stream.variables)
    module.call, module.init_states = call, init_states
    specs = _state_specs(stream, [1, None, config.imgz, config.imgz, 3])
    path = output_dir / layouts.STREAM_MODEL
    tf.saved_model.save(module, str(path), signatures={"call": call.get_concrete_function(specs),
                                                       "init_states": init_states})
    log.info("exported the stream model (%d states) to %s", len(specs) - 1, path)
    one_frame = [1, 1, config.imgz, config.imgz, 3]  # static shapes: TFLite has no dynamic depthwise convolution
    static = {name: tf.TensorSpec(state.shape, state.dtype, name=name)
              for name, state in stream.init_states(one_frame).items()}
    # A fresh trace: `call` would serve these shapes from its more general (dynamic-time) trace.
    frame = tf.function(call.python_function).get_concrete_function(
        {**static, "image": tf.TensorSpec(one_frame, tf.float32, name="image")})
    representative = list(representative_frames(stream, frame, calibration_clips))
    with tempfile.TemporaryDirectory(prefix="movinet-stream-frame-") as frame_model:  # saved once, converted thrice
        frame_module = tf.Module()
        frame_module.model_variables = module.model_variables
        tf.saved_model.save(frame_module, frame_model, signatures={"serving_default": frame})
        for precision in layouts.TFLITE_PRECISIONS:
            if precision == "int8" and not representative:
                log.warning("no int8 TFLite stream model: no calibration clips were given")
                continue
            tflite = _tflite(Path(frame_model), precision, representative)
            path = output_dir / layouts.stream_tflite_name(precision)
            path.write_bytes(tflite)
            log.info("exported the %s TFLite stream model (%.2f MB) to %s", precision, len(tflite) / 1e6, path)

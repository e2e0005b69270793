"""Stream export of a causal MoViNet trained in base mode: a SavedModel that takes one frame at a time.

The stream model is the same network built with external states (`use_external_states=True`,
`output_states=True`); the trained weights are copied over variable by variable. Signatures, as Model Garden's
stream SavedModels: `init_states(input_shape int32[5]) -> states` and `call(**states, image[1, t, H, W, 3]) ->
{**states, "logits"}`. Exported in float32 (external states break under a mixed-precision policy).
"""

from __future__ import annotations

import logging
from pathlib import Path

import tensorflow as tf
import tf_keras
from official.projects.movinet.modeling import movinet, movinet_model

from movinet_pipeline.config import PipelineConfig

log = logging.getLogger(__name__)


def build_stream_classifier(config: PipelineConfig, num_classes: int) -> movinet_model.MovinetClassifier:
    backbone = movinet.Movinet(model_id=config.model_id, causal=True, use_external_states=True,
                               conv_type=config.conv_type, norm_momentum=config.norm_momentum)
    model = movinet_model.MovinetClassifier(backbone=backbone, num_classes=num_classes, output_states=True)
    frame = [1, 1, config.imgz, config.imgz, 3]
    model({**model.init_states(frame), "image": tf.zeros(frame)})  # creates every variable, states included
    return model


def export_stream_saved_model(trained: tf_keras.Model, config: PipelineConfig, num_classes: int,
                              path: str | Path) -> None:
    """Copy `trained` (a causal base-mode classifier) into a stream model and save it under `path`."""
    stream = build_stream_classifier(config, num_classes)
    stream.set_weights(trained.get_weights())
    input_shape = [1, None, config.imgz, config.imgz, 3]
    specs = {name: tf.TensorSpec(spec.shape, spec.dtype, name=name)
             for name, spec in stream.initial_state_specs(input_shape).items()}
    specs["image"] = tf.TensorSpec(input_shape, tf.float32, name="image")

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
    tf.saved_model.save(module, str(path), signatures={"call": call.get_concrete_function(specs),
                                                       "init_states": init_states})
    log.info("exported the stream model (%d states) to %s", len(specs) - 1, path)

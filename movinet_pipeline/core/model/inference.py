"""Prediction on video files, with exactly the input path of training and evaluation.

A video is decoded and sampled by the same code as build_tfrecords (`video.read_clip`), its frames are stored as
the same JPEG SequenceExample, and parsed by the same tf.data function as evaluation (`data.parse_clip`, centre
crop): what the model sees at prediction is what it saw at evaluation.
"""

from __future__ import annotations

import abc
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.media.records import ClipRecord, serialize_clip
from movinet_pipeline.core.media.video import read_clip

if TYPE_CHECKING:
    import tf_keras

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """No usable model at the given place; the message says what was looked for."""


class LabelCountMismatch(ModelLoadError):
    """The model's labels do not name its outputs one to one: its predictions could not be named."""


def check_label_count(model_name: str, labels: list[str], outputs: int) -> None:
    """Raise LabelCountMismatch (one line: the model, both counts, the fixes) unless `labels` names every output."""
    if outputs != len(labels):
        raise LabelCountMismatch(
            f"model {model_name!r} has {outputs} outputs but {len(labels)} labels: give it {outputs} labels (the "
            f"model's labels, or id_to_label_map in its configuration) to predict with it, or fine-tune it on a "
            f"dataset to get a model with that dataset's labels")


@dataclass(frozen=True)
class VideoClip:
    """A decoded, sampled, cropped clip and the frames it covers."""
    frames: tf.Tensor  # float32 [n_frames, imgz, imgz, 3] in [0, 1]
    first_frame: int
    last_frame: int  # the last frame the clip covers (inclusive)


@dataclass(frozen=True)
class Prediction:
    """One label and its confidence."""
    label: str
    confidence: float


def video_clip(path: str | Path, config: PipelineConfig) -> VideoClip:
    """Decode, sample and crop a clip of `path` as evaluation does. Raises VideoDecodeError/OSError/ValueError."""
    from movinet_pipeline.core.model.input_pipeline import parse_clip

    clip = read_clip(str(path), 0, None, config.frames_per_record, config.short_side, config.sampling,
                     config.frame_step, jpeg_quality=config.jpeg_quality)
    record = ClipRecord(jpeg_frames=clip.frames,
                        label_index=0, label_text="", media_id="", frame_indices=clip.frame_indices,
                        source_fps=clip.fps or 0.0)
    frames, _ = parse_clip(tf.constant(serialize_clip(record)), config.n_frames, config.imgz, training=False)
    return VideoClip(frames, min(clip.frame_indices), max(clip.frame_indices))


def top_k(probabilities: np.ndarray, labels: list[str], k: int) -> list[Prediction]:
    """The `k` most probable labels."""
    order = np.argsort(-probabilities)[: min(k, len(labels))]
    return [Prediction(labels[i], float(probabilities[i])) for i in order]


class BaseModel:
    """A base-mode classifier: clip batch [B, T, H, W, 3] -> class probabilities [B, C]."""

    def __init__(self, predict_fn, labels: list[str], source: str, num_outputs: int, keras_model=None) -> None:
        self._predict_fn, self.labels, self.source = predict_fn, labels, source
        self.num_outputs = num_outputs  # the classifier's outputs (check_label_count: one label each)
        self.keras_model = keras_model  # the tf_keras classifier, when built from weights or a TF Hub MoViNet
        self._backbone_fn = None if keras_model is None else tf.function(
            lambda clips: keras_model.backbone(clips, training=False), reduce_retracing=True)

    @classmethod
    def of_classifier(cls, classifier: tf_keras.Model, labels: list[str], source: str,
                      num_outputs: int) -> BaseModel:
        """A tf_keras classifier's softmax, traced once per input signature.

        Called eagerly instead, each of Model Garden's Conv3D layers would compile a new XLA function at every call.
        """
        predict = tf.function(lambda clips: tf.nn.softmax(classifier(clips, training=False)), reduce_retracing=True)
        return cls(predict, labels, source, num_outputs, classifier)

    def probabilities(self, clips: tf.Tensor) -> np.ndarray:
        """Class probabilities [B, C] of a clip batch."""
        return np.asarray(self._predict_fn(clips))

    def embeddings(self, clips: tf.Tensor) -> np.ndarray:
        """One L2-normalised vector [B, D] per clip: the backbone's pooled features (its head, before the classifier).

        D is `config.EMBEDDING_SIZES[model_id]`; deterministic (inference mode: batch norm statistics, no dropout).
        Needs a tf_keras classifier: built from the weights artifact or a TF Hub MoViNet (a SavedModel exposes only
        its outputs).
        """
        if self._backbone_fn is None:
            raise ModelLoadError(f"embeddings need the model's weights artifact; {self.source} exposes no backbone")
        output = self._backbone_fn(clips)
        endpoints = output[0] if isinstance(output, tuple) else output
        pooled = tf.reshape(endpoints["head"], [tf.shape(clips)[0], -1])
        return tf.math.l2_normalize(pooled, axis=-1).numpy()

    @classmethod
    def from_weights(cls, weights: Path, config: PipelineConfig, labels: list[str]) -> BaseModel:
        """A freshly built MovinetClassifier with the tf_keras weights file loaded."""
        from movinet_pipeline.core.model import network as modeling

        classifier = modeling.build_classifier(
            modeling.build_backbone(config.model_id, config.conv_type, config.norm_momentum, config.causal),
            len(labels),
            config.n_frames, config.imgz)
        try:
            classifier.load_weights(str(weights))
        except ValueError as error:
            raise ModelLoadError(f"{weights} does not fit a {config.model_id} classifier with {len(labels)} outputs "
                                 f"(one per label; check the labels and model_id): {error}") from error
        return cls.of_classifier(classifier, labels, f"weights {weights}", len(labels))

    @classmethod
    def from_saved_model(cls, path: Path, labels: list[str]) -> BaseModel:
        """A base-mode SavedModel (its `probabilities`, else softmax of its logits)."""
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        outputs = set(serve.structured_outputs)
        key = "probabilities" if "probabilities" in outputs else sorted(outputs)[0]

        def predict(clips: tf.Tensor) -> tf.Tensor:
            result = serve(image=clips)[key] if "image" in serve.structured_input_signature[1] else serve(clips)[key]
            return result if key == "probabilities" else tf.nn.softmax(result)

        return cls(predict, labels, f"SavedModel {path}", int(serve.structured_outputs[key].shape[-1]))

    @classmethod
    def from_hub(cls, handle: str, labels: list[str], model_id: str, clip_shape: list[int]) -> BaseModel:
        """A TF Hub MoViNet (Kinetics-600 head): `handle` is a tfhub.dev URL or a local path.

        Served through the project's own MoViNet-`model_id` with the Hub model's weights (network.hub_classifier:
        the fast depthwise path on CPU) when that network gives the Hub SavedModel's logits on a probe clip; else
        (another network, or settings that hold no variables) the SavedModel as it is, its number of outputs read
        off one zero clip of `clip_shape` ([1, T, H, W, 3]).
        """
        import tensorflow_hub as hub

        from movinet_pipeline.core.model import network

        layer = hub.KerasLayer(handle, trainable=False)
        try:
            classifier = network.hub_classifier(model_id, handle)
            probe = tf.random.stateless_uniform([1, 2, 32, 32, 3], seed=[2, 9])
            _check_rebuilt(classifier(probe, training=False), layer({"image": probe}), handle)
        except ValueError as error:
            log.warning("serving TF Hub %s as its SavedModel (Model Garden's kernels): %s", handle, error)
        else:
            log.info("serving TF Hub %s through MoViNet-%s rebuilt from its weights", handle, model_id.upper())
            return cls.of_classifier(classifier, labels, f"TF Hub {handle}", network.KINETICS_CLASSES)
        outputs = int(layer({"image": tf.zeros(clip_shape)}).shape[-1])
        return cls(lambda clips: tf.nn.softmax(layer({"image": clips})), labels, f"TF Hub {handle}", outputs)


def _check_rebuilt(rebuilt: tf.Tensor, hub: tf.Tensor, handle: str) -> None:
    """ValueError unless a network rebuilt from a TF Hub model's weights gives the Hub SavedModel's logits."""
    rebuilt, hub = np.asarray(rebuilt), np.asarray(hub)
    if rebuilt.shape != hub.shape or not np.allclose(rebuilt, hub, rtol=1e-3, atol=1e-3 * np.abs(hub).max()):
        difference = f"{np.abs(rebuilt - hub).max():.3g}" if rebuilt.shape == hub.shape else f"shape {rebuilt.shape}"
        raise ValueError(f"the network rebuilt from TF Hub {handle}'s weights does not give its logits on a probe "
                         f"clip (largest difference {difference}): it differs in settings that hold no weights")


class FrameByFrameModel(abc.ABC):
    """A stream model: `initial_states(frame_shape)` and `step(states, frame [1, 1, H, W, 3]) -> (logits, states)`."""

    labels: list[str]
    source: str
    num_outputs: int  # the classifier's outputs (check_label_count: one label each)

    @abc.abstractmethod
    def initial_states(self, frame_shape: list[int]) -> dict:
        """The states before the first frame of a `frame_shape` stream."""

    @abc.abstractmethod
    def step(self, states: dict, frame) -> tuple[np.ndarray, dict]:
        """Logits [1, C] after `frame`, and the states to feed with the next one."""

    def logits(self, clip: np.ndarray | tf.Tensor, frame_seconds: list[float] | None = None) -> np.ndarray:
        """One clip [1, T, H, W, 3] -> logits [1, C] after its last frame (fed one frame at a time).

        `frame_seconds`, when given, gets each frame's inference time appended (latency measurements).
        """
        states, logits = self.initial_states([1, 1, *clip.shape[2:]]), None
        for t in range(int(clip.shape[1])):
            started = time.perf_counter()
            logits, states = self.step(states, clip[:, t : t + 1])
            if frame_seconds is not None:
                frame_seconds.append(time.perf_counter() - started)
        return logits

    def probabilities(self, clips: tf.Tensor) -> np.ndarray:
        """Class probabilities [B, C], each clip fed frame by frame."""
        return np.concatenate([tf.nn.softmax(self.logits(clips[i : i + 1])).numpy() for i in range(len(clips))])


class StreamModel(FrameByFrameModel):
    """A stream SavedModel (`init_states`, `call`): the project's stream export, or a TF Hub stream MoViNet."""

    def __init__(self, path: Path, labels: list[str], source: str | None = None) -> None:
        loaded = tf.saved_model.load(str(path))
        self._loaded = loaded  # keeps the functions' variables alive
        self._init_states, self._call = loaded.signatures["init_states"], loaded.signatures["call"]
        self.labels, self.source = labels, source or f"stream SavedModel {path}"
        self.num_outputs = int(self._call.structured_outputs["logits"].shape[-1])

    def initial_states(self, frame_shape: list[int]) -> dict:
        """The SavedModel's `init_states` for `frame_shape`."""
        return self._init_states(input_shape=tf.constant(frame_shape, tf.int32))

    def step(self, states: dict, frame) -> tuple[np.ndarray, dict]:
        """One `call` of the SavedModel."""
        outputs = dict(self._call(**states, image=tf.convert_to_tensor(frame, tf.float32)))
        return np.asarray(outputs.pop("logits")), outputs


class KerasStreamModel(FrameByFrameModel):
    """A stream classifier built by the project (external states in and out), called one frame at a time."""

    def __init__(self, classifier: tf_keras.Model, labels: list[str], source: str) -> None:
        self._classifier = classifier
        self._call = tf.function(lambda inputs: classifier(inputs, training=False))  # traced once per frame shape
        self.labels, self.source = labels, source
        self.num_outputs = int(classifier.get_config()["num_classes"])

    def initial_states(self, frame_shape: list[int]) -> dict:
        """The classifier's `init_states` for `frame_shape`."""
        return self._classifier.init_states(frame_shape)

    def step(self, states: dict, frame: np.ndarray | tf.Tensor) -> tuple[np.ndarray, dict]:
        """One call of the classifier."""
        logits, states = self._call({**states, "image": tf.convert_to_tensor(frame, tf.float32)})
        return np.asarray(logits), states


def stream_model_from_hub(handle: str, labels: list[str], model_id: str, imgz: int) -> FrameByFrameModel:
    """A TF Hub stream MoViNet, served through the project's causal MoViNet-`model_id` rebuilt from its weights.

    The rebuilt network takes the fast depthwise path on CPU; it serves when it gives the Hub SavedModel's logits on
    a probe frame, else (another network, or settings that hold no variables) the SavedModel serves as it is.
    """
    import tensorflow_hub as hub

    from movinet_pipeline.core.model.stream_export import hub_stream_classifier

    saved = StreamModel(Path(hub.resolve(handle)), labels, source=f"TF Hub {handle}")
    try:
        rebuilt = KerasStreamModel(hub_stream_classifier(model_id, handle, imgz), labels, f"TF Hub {handle}")
        frame = tf.random.stateless_uniform([1, 1, imgz, imgz, 3], seed=[3, 9])
        _check_rebuilt(rebuilt.step(rebuilt.initial_states(frame.shape), frame)[0],
                       saved.step(saved.initial_states(frame.shape), frame)[0], handle)
    except ValueError as error:
        log.warning("serving TF Hub %s as its SavedModel (Model Garden's kernels): %s", handle, error)
        return saved
    log.info("serving TF Hub %s through the stream MoViNet-%s rebuilt from its weights", handle, model_id.upper())
    return rebuilt


class TfliteStreamModel(FrameByFrameModel):
    """A TFLite stream model (STREAM_TFLITE): one frame per call, states zero at the start."""

    def __init__(self, path: Path, labels: list[str], num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self._runner = self._interpreter.get_signature_runner()
        inputs = self._runner.get_input_details()
        self._zero_states = {name: np.zeros(d["shape"], d["dtype"]) for name, d in inputs.items() if name != "image"}
        self.labels, self.source = labels, f"TFLite stream model {path}"
        self.num_outputs = int(self._runner.get_output_details()["logits"]["shape"][-1])

    def initial_states(self, frame_shape: list[int]) -> dict:
        """Zero states (what `init_states` gives); the frame shape is fixed in the TFLite model."""
        return dict(self._zero_states)

    def step(self, states: dict, frame) -> tuple[np.ndarray, dict]:
        """One run of the TFLite signature."""
        outputs = dict(self._runner(**states, image=np.asarray(frame, np.float32)))
        return outputs.pop("logits"), outputs

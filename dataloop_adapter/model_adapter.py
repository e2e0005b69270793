"""The Dataloop model adapter for MoViNet (`dataloop.json` names this module and class).

- `load`: base mode: the registered weights artifact; else a TF Hub model from `hub_version` / `model_id` /
  `model_mode` (or `hub_handle`); else a SavedModel in the artifacts folder. Stream mode: the model's `stream/`
  export (a causal model), fed frame by frame, or with `stream_model` float32 / float16 / int8 its TFLite one;
  without trained artifacts, TF Hub's stream MoViNet, fed frame by frame the same way. A TF Hub model without labels
  of its own predicts the Kinetics-600 names; a model whose labels do not name its outputs one to one predicts
  nothing (`check_label_count`'s one-line error), and can still be fine-tuned.
- `predict`: top-k `class` annotations with confidences over each video's frame range (temperature-scaled, and
  filtered by per-label thresholds, when the artifacts hold a calibration.json). A video that cannot be decoded is
  reported (logged and listed in `failed_items`) and gets no annotation; the rest of the batch still gets
  predictions. With `segment_seconds` (temporal predictions): one `class` annotation per run of windows with the
  same top label, over its frame range, in base mode (sliding windows) or stream mode (frame by frame, states
  carried within each window); see `core.model.temporal`.
- `embed` (behind dtlpy's `embed_items` / `embed_dataset`): one L2-normalised vector per video, MoViNet's pooled
  backbone features (`embeddings_size`: 480 for a0 ... 992 for a5), uploaded to the model's feature set.
- `evaluate_model` (dtlpy's flow): predicts the filtered items (top label only) and publishes `dtlpymetrics`
  scores for Dataloop's model comparison.
- `train`: base mode only, through the project's own export -> TFRecords -> trainer code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dtlpy as dl
import numpy as np
import tensorflow as tf

from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import EMBEDDING_SIZES, PipelineConfig, resolve_config
from movinet_pipeline.core.item_paths import UnsafeItemName, item_relative_path
from movinet_pipeline.core.media.video import VideoDecodeError
from movinet_pipeline.core.model.calibration import Calibration
from movinet_pipeline.core.model.inference import (
    BaseModel,
    FrameByFrameModel,
    ModelLoadError,
    StreamModel,
    TfliteStreamModel,
    check_label_count,
    stream_model_from_hub,
    top_k,
    video_clip,
)
from movinet_pipeline.core.model.kinetics import kinetics_600_labels
from movinet_pipeline.core.model.temporal import predict_segments

log = logging.getLogger(__name__)
EXPORT = "export"


@dataclass
class VideoInput:
    """What `prepare_item_func` hands to `predict`: the decoded clip, or why there is none."""

    item: dl.Item
    clip: object | None = None
    error: str | None = None
    video: Path | None = None  # temporal predictions: the downloaded file, streamed by `predict`
    folder: tempfile.TemporaryDirectory | None = None  # holds `video` until `predict` is done with it

    def release(self) -> None:
        """Remove the downloaded file (once `predict` or `embed` has read it)."""
        self.folder.cleanup()
        self.video = None

    def fail(self, error: Exception) -> None:
        """Keep why this video has no prediction (named in the log and `failed_items`)."""
        self.clip, self.error = None, f"{type(error).__name__}: {error}"


def adapter_config(configuration: dict) -> PipelineConfig:
    """The model entity's configuration as a validated PipelineConfig (unknown keys, e.g. label maps, ignored)."""
    known = {f.name for f in dataclasses.fields(PipelineConfig)}
    return resolve_config(None, None, {k: v for k, v in configuration.items() if k in known})


class MovinetAdapter(dl.BaseModelAdapter):
    """Dataloop model adapter: MoViNet base and stream prediction, base-mode training."""
    def __init__(self, model_entity: dl.Model | None = None):
        self.model: BaseModel | FrameByFrameModel | None = None
        self.model_dir: Path | None = None
        self.calibration = Calibration()
        self._load_error = "no model loaded"
        self.failed_items: list[dict] = []
        self._top_k: int | None = None  # evaluate_model predicts the top label only
        super().__init__(model_entity)

    # -- configuration ------------------------------------------------------------------------------------------
    @property
    def pipeline_config(self) -> PipelineConfig:
        return adapter_config(dict(self.configuration))

    def _labels(self, local_path: Path) -> list[str]:
        id_to_label = self.configuration.get("id_to_label_map")
        if id_to_label:
            return [id_to_label[str(i)] for i in range(len(id_to_label))]
        if (local_path / layouts.LABELS).is_file():
            return layouts.read_labels(local_path)
        return list(self.model_entity.labels)

    # -- load / save ----------------------------------------------------------------------------------------------
    def load(self, local_path, **kwargs):
        """Load the model from the artifacts in `local_path` (see the module docstring)."""
        config, local_path = self.pipeline_config, Path(local_path)
        labels = self._labels(local_path)
        self.model_dir = local_path
        self.calibration = Calibration.read(local_path)
        if self.calibration != Calibration():
            log.info("calibration from %s: temperature %.3f, %d per-label threshold(s) for precision %g",
                     layouts.ModelFolder(local_path).calibration, self.calibration.temperature,
                     len(self.calibration.thresholds), self.calibration.target_precision)
        if config.model_mode == "stream":  # inference only: a model that cannot stream is an error here
            self.model = self._load_stream(layouts.ModelFolder(local_path), config, labels)
            check_label_count(self.model_entity.name, self.model.labels, self.model.num_outputs)
            log.info("loaded %s (%d labels) from %s", self.model_entity.name, len(labels), self.model.source)
            return
        self.model_entity.configuration["embeddings_size"] = EMBEDDING_SIZES[config.model_id]
        try:
            self.model = self._load_base(local_path, config, labels)
            check_label_count(self.model_entity.name, self.model.labels, self.model.num_outputs)
        except ModelLoadError as error:  # training can still start from the configured pretrained weights
            self.model, self._load_error = None, str(error)
            log.warning("%s; prediction will fail until the model is trained", error)
            return
        log.info("loaded %s (%d labels) from %s", self.model_entity.name, len(self.model.labels), self.model.source)

    def _hub_handle(self, config: PipelineConfig) -> str:
        return self.configuration.get("hub_handle") or _default_hub_handle(config)

    def _load_base(self, local_path: Path, config: PipelineConfig, labels: list[str]) -> BaseModel:
        model = layouts.ModelFolder(local_path)
        weights = model.weights(config.weights_filename)
        hub_handle = self._hub_handle(config)
        if weights.is_file():
            return BaseModel.from_weights(weights, config, labels)
        if not model.saved_model.is_dir() and hub_handle:
            try:
                return BaseModel.from_hub(hub_handle, _hub_labels(labels), config.model_id,
                                          [1, config.n_frames, config.imgz, config.imgz, 3])
            except Exception as error:  # noqa: BLE001 - hub raises many types (network, format); name the handle
                raise ModelLoadError(f"model {self.model_entity.name!r}: no weights artifact, and TF Hub model "
                                     f"{hub_handle} could not be loaded: {error}") from error
        if model.has_saved_model():
            return BaseModel.from_saved_model(model.saved_model, labels)
        raise ModelLoadError(f"model {self.model_entity.name!r}: no {config.weights_filename}, TF Hub handle or "
                             f"SavedModel in {local_path}")

    def _load_stream(self, model: layouts.ModelFolder, config: PipelineConfig,
                     labels: list[str]) -> FrameByFrameModel:
        """The model's own stream export; without trained artifacts, TF Hub's stream MoViNet for the configuration."""
        if model.has_stream_model():
            return _stream_model(model, config, labels)
        if model.weights(config.weights_filename).is_file() or model.saved_model.is_dir():
            raise ModelLoadError(f"model {self.model_entity.name!r} is configured for stream mode, but its "
                                 "artifacts hold no stream/ export (train it with causal: true to get one); "
                                 "or use model_mode: base")
        handle = self._hub_handle(config)
        if config.stream_model != "savedmodel":
            raise ModelLoadError(f"model {self.model_entity.name!r}: stream_model {config.stream_model!r} needs "
                                 f"the model's own TFLite export; TF Hub's stream model ({handle}) is served with "
                                 "stream_model: savedmodel")
        try:
            return stream_model_from_hub(handle, _hub_labels(labels), config.model_id, config.imgz)
        except Exception as error:  # noqa: BLE001 - hub raises many types (network, format); name the handle
            raise ModelLoadError(f"model {self.model_entity.name!r}: no trained artifacts, and TF Hub stream model "
                                 f"{handle} could not be loaded: {error}") from error

    def save(self, local_path, **kwargs):
        """Copy the model's artifact files (layouts.ModelFolder.artifact_files) into `local_path` for upload."""
        if self.model_dir is None:
            raise ModelLoadError("nothing to save: load or train a model first")
        target = Path(local_path)
        if target.resolve() == self.model_dir.resolve():
            return
        for source in layouts.ModelFolder(self.model_dir).artifact_files(self.pipeline_config.weights_filename):
            copy = target / source.relative_to(self.model_dir)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)

    # -- prediction -------------------------------------------------------------------------------------------
    def prepare_item_func(self, item: dl.Item) -> VideoInput:
        """Download and decode one video item as evaluation reads clips; an error is kept, not raised.

        With `segment_seconds` (temporal predictions) the video is only downloaded: `predict` streams it.
        """
        mimetype = item.mimetype or ""
        if not mimetype.startswith("video/"):
            raise ValueError(f"item {item.id} ({item.filename}) is {mimetype or 'of unknown type'}, not a video: "
                             "MoViNet classifies videos only")
        video = VideoInput(item)
        folder = tempfile.TemporaryDirectory(prefix="movinet-predict-")
        try:  # the item's name is data: the bytes go to a file name of ours
            path = Path(folder.name) / "video"
            path.write_bytes(item.download(save_locally=False).getvalue())
            if self.pipeline_config.segment_seconds:  # decoded by `predict`, front to back
                video.video, video.folder = path, folder
                return video
            video.clip = video_clip(str(path), self.pipeline_config)
        except (VideoDecodeError, OSError, ValueError) as error:
            video.fail(error)
        if video.folder is None:
            folder.cleanup()
        return video

    def predict(self, batch: list[VideoInput], **kwargs) -> list[dl.AnnotationCollection]:
        """Top-k class annotations per decodable video, or with `segment_seconds` one per labelled segment.

        Undecodable videos are reported and get none. With the model's calibration.json: confidences are
        temperature-scaled, and a label's prediction below its confidence threshold is left out.
        """
        if self.model is None:
            raise ModelLoadError(self._load_error)
        if self.pipeline_config.segment_seconds:
            collections = [self._segment_annotations(video) for video in batch]
        else:
            collections = self._clip_annotations(batch)
        self._report_failures(batch, "predict")
        return collections

    def _report_failures(self, batch: list[VideoInput], verb: str) -> None:
        for video in batch:
            if video.error is not None:
                log.error("cannot %s item %s (%s): %s", verb, video.item.id, video.item.filename, video.error)
                self.failed_items.append({"item": video.item.id, "filename": video.item.filename,
                                          "reason": video.error})

    def _annotate(self, collection: dl.AnnotationCollection, label: str, confidence: float, object_id: int,
                  first_frame: int, last_frame: int) -> None:
        collection.add(annotation_definition=dl.Classification(label=label), object_id=object_id,
                       frame_num=first_frame, end_frame_num=last_frame,
                       model_info={"name": self.model_entity.name, "confidence": confidence,
                                   "model_id": self.model_entity.id})

    def _clip_annotations(self, batch: list[VideoInput]) -> list[dl.AnnotationCollection]:
        """Top-k labels of each video's clip, over its whole frame range."""
        decodable = [video for video in batch if video.clip is not None]
        probabilities = (self.calibration.rescale(self.model.probabilities(
            tf.stack([video.clip.frames for video in decodable]))) if decodable else np.zeros([0, 0]))
        scores = dict(zip((id(video) for video in decodable), probabilities))
        collections = []
        for video in batch:
            collection = dl.AnnotationCollection()
            if video.clip is not None:
                last_frame = _last_frame(video.item, video.clip.last_frame)
                guesses = top_k(scores[id(video)], self.model.labels, self._top_k or self.pipeline_config.top_k)
                confident = [guess for guess in guesses if self.calibration.keeps(guess.label, guess.confidence)]
                for rank, guess in enumerate(confident):
                    self._annotate(collection, guess.label, guess.confidence, rank + 1, 0, last_frame)
            collections.append(collection)
        return collections

    def _decode_clip(self, video: VideoInput) -> None:
        """Decode a downloaded video's clip as `prepare_item_func` does without `segment_seconds`."""
        try:
            video.clip = video_clip(str(video.video), self.pipeline_config)
        except (VideoDecodeError, OSError, ValueError) as error:
            video.fail(error)
        finally:
            video.release()

    def _segment_annotations(self, video: VideoInput) -> dl.AnnotationCollection:
        """One class annotation per labelled segment of the video (core.model.temporal); the file is removed."""
        collection = dl.AnnotationCollection()
        if video.video is None:
            return collection
        try:
            found = predict_segments(self.model, str(video.video), self.pipeline_config, self.calibration.rescale)
        except (VideoDecodeError, OSError, ValueError) as error:
            video.fail(error)
            return collection
        finally:
            video.release()
        kept = [segment for segment in found if self.calibration.keeps(segment.label, segment.confidence)]
        for number, segment in enumerate(kept):
            self._annotate(collection, segment.label, segment.confidence, number + 1, segment.first_frame,
                           segment.last_frame)
        return collection

    def embed(self, batch: list[VideoInput], **kwargs) -> list[list[float] | None]:
        """One L2-normalised vector per decodable video (MoViNet's pooled backbone features); None for the others.

        `embed_items` / `embed_dataset` (dtlpy's) upload them to the model's feature set; the vector size is the
        configuration's `embeddings_size` (set at load from the backbone: 480 for a0 ... 992 for a5).
        """
        if self.model is None:
            raise ModelLoadError(self._load_error)
        if not isinstance(self.model, BaseModel):
            raise ModelLoadError("embeddings come from the base model's backbone: load the model with "
                                 "model_mode: base")
        for video in batch:
            if video.video is not None:  # downloaded for temporal predictions: an embedding takes the whole clip
                self._decode_clip(video)
        decodable = [video for video in batch if video.clip is not None]
        vectors = (self.model.embeddings(tf.stack([video.clip.frames for video in decodable]))
                   if decodable else np.zeros([0, 0]))
        by_video = dict(zip((id(video) for video in decodable), vectors))
        self._report_failures(batch, "embed")
        return [by_video[id(video)].astype(float).tolist() if id(video) in by_video else None for video in batch]

    # -- evaluation -------------------------------------------------------------------------------------------
    def evaluate_model(self, model: dl.Model, dataset: dl.Dataset, filters=None, **kwargs):
        """Dtlpy's flow, predicting the top label only: predict the filtered items, then `dtlpymetrics` scores them.

        Dataloop's scoring pairs each ground-truth class annotation with one of the model's on the item, so more
        than one prediction per video would be paired at random; the scores (a CSV and interpolated
        precision/recall in the dataset's hidden `/.modelscores`) are what the platform's model comparison reads.
        """
        self._top_k = 1
        try:
            return super().evaluate_model(model=model, dataset=dataset, filters=filters, **kwargs)
        finally:
            self._top_k = None

    # -- training ---------------------------------------------------------------------------------------------
    def convert_from_dtlpy(self, data_path, **kwargs):
        """`prepare_data`'s per-subset downloads -> the exported-dataset contract under `data_path/export`."""
        from movinet_pipeline.core.sources.download_folder import export_local

        data_path = Path(data_path)
        merged, subsets = _merge_subset_downloads(data_path, data_path / "download")
        export_local(merged, data_path / EXPORT, subsets=subsets, origin=f"dataloop-model:{self.model_entity.id}",
                     include_model_annotations=self.pipeline_config.include_model_annotations)

    def train(self, data_path, output_path, **kwargs):
        """Fine-tune in base mode on `data_path/export` (see `convert_from_dtlpy`) with the project's trainer."""
        from movinet_pipeline.core.examples.job import build_examples
        from movinet_pipeline.core.model.training import train

        config = self.pipeline_config
        if config.model_mode != "base":
            raise ValueError(f"model {self.model_entity.name!r}: training is base mode only (model_mode is "
                             f"{config.model_mode!r}); stream mode is for inference")
        data_path, output_path = Path(data_path), Path(output_path)
        if not (data_path / EXPORT / layouts.MANIFEST).is_file():
            self.convert_from_dtlpy(data_path)
        examples = data_path / "examples"
        shutil.rmtree(examples, ignore_errors=True)
        build_examples(data_path / EXPORT, examples, config, [])
        train(examples, output_path, config)
        self.model_dir = output_path
        self.model = BaseModel.from_weights(output_path / config.weights_filename, config,
                                            layouts.read_labels(output_path))


def _stream_model(model: layouts.ModelFolder, config: PipelineConfig, labels: list[str]) -> FrameByFrameModel:
    """The stream model `stream_model` names: the stream SavedModel or a TFLite stream model of one precision."""
    if config.stream_model == "savedmodel":
        return StreamModel(model.stream_model, labels)
    path = model.root / layouts.stream_tflite_name(config.stream_model)
    if not path.is_file():
        raise ModelLoadError(f"stream_model {config.stream_model!r}: the artifacts hold no {path.name} (causal models "
                             "get TFLite stream models when trained; int8 needs training clips to calibrate); use "
                             "stream_model: savedmodel")
    return TfliteStreamModel(path, labels)


def _hub_labels(labels: list[str]) -> list[str]:
    """A TF Hub model's labels: the model's own, else the Kinetics-600 names its head was trained on."""
    if labels:
        return labels
    log.info("the model has no labels of its own: its TF Hub head predicts the %d Kinetics-600 classes",
             len(kinetics_600_labels()))
    return list(kinetics_600_labels())


def _default_hub_handle(config: PipelineConfig) -> str:
    from movinet_pipeline.core.model.network import hub_handle

    return hub_handle(config)


def _last_frame(item: dl.Item, decoded_last: int) -> int:
    frames = (item.metadata.get("system") or {}).get("nb_frames")
    return int(frames) - 1 if frames else decoded_last


def _merge_subset_downloads(data_path: Path, merged: Path) -> tuple[Path, dict[str, str]]:
    """`data_path/<subset>/{items,json}` (BaseModelAdapter.prepare_data) -> one download folder + subset map."""
    subsets: dict[str, str] = {}
    for subset in layouts.SUBSETS:
        root = data_path / subset
        item_json = root / layouts.ITEM_JSON
        for json_path in sorted(item_json.rglob("*.json")) if item_json.is_dir() else ():
            record = json.loads(json_path.read_text())
            subsets[record["id"]] = subset
            copies = [(json_path, merged / json_path.relative_to(root))]
            with contextlib.suppress(UnsafeItemName):  # export_local dead-letters the item by its JSON
                video = Path(layouts.ITEMS) / item_relative_path(record["filename"])
                copies.append((root / video, merged / video))
            for source, target in copies:
                if source.is_file():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target)
    if not subsets:
        raise ValueError(f"no downloaded subsets under {data_path}: expected {data_path}/train/json/...")
    return merged, subsets

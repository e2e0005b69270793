"""MoViNet classifiers from TF Model Garden (tf-models-official): build, pretrained start, export."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import tensorflow as tf
import tf_keras
from official.projects.movinet.modeling import movinet, movinet_model

from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.model.fast_ops import use_fast_ops, uses_fast_ops
from movinet_pipeline.core.model.kinetics import kinetics_600_labels

log = logging.getLogger(__name__)

KINETICS_CLASSES = len(kinetics_600_labels())  # the pretrained heads' outputs
HUB_HANDLE = "https://tfhub.dev/tensorflow/movinet/{model_id}/{model_mode}/kinetics-600/classification/{hub_version}"
HUB_PREFIXES = ("https://tfhub.dev/", "https://www.kaggle.com/models/")
GARDEN_CHECKPOINT = "https://storage.googleapis.com/tf_model_garden/vision/movinet/movinet_{model_id}_base.tar.gz"
NETWORK_TIMEOUT_S = 5


def hub_handle(config: PipelineConfig) -> str:
    """The TF Hub handle of the Kinetics-600 MoViNet named by `model_id`, `model_mode` and `hub_version`."""
    return HUB_HANDLE.format(model_id=config.model_id, model_mode=config.model_mode, hub_version=config.hub_version)


def fast_ops_by_default() -> bool:
    """Whether new networks use the fast 3D operations (fast_ops.py): wherever no GPU is visible.

    On a GPU, Model Garden's grouped Conv3D stays until a GPU benchmark says the taps are not slower there.
    """
    return not tf.config.list_physical_devices("GPU")


def build_backbone(model_id: str, conv_type: str = "3d", norm_momentum: float = 0.99, causal: bool = False,
                   external_states: bool = False, fast_ops: bool | None = None) -> tf_keras.Model:
    """A MoViNet backbone, base mode unless `external_states` (the stream model's states in and out).

    `causal` makes every temporal operation look only backwards, so the trained model can also run frame by frame
    (see stream_export.py). `fast_ops` (default: fast_ops_by_default()) computes the depthwise 3D convolutions of
    conv_type 3d by taps: the same variables, an order of magnitude faster on CPU (benchmarks/depthwise3d.py).
    """
    backbone = movinet.Movinet(model_id=model_id, causal=causal, use_external_states=external_states,
                               conv_type=conv_type, norm_momentum=norm_momentum)
    if fast_ops_by_default() if fast_ops is None else fast_ops:
        switched = use_fast_ops(backbone)
        log.debug("MoViNet-%s: %d layers switched to the fast 3D operations", model_id.upper(), switched)
    return backbone


def build_classifier(backbone: tf_keras.Model, num_classes: int, n_frames: int | None = None,
                     imgz: int | None = None) -> movinet_model.MovinetClassifier:
    """Model Garden's MovinetClassifier: `backbone` with a new head of `num_classes`.

    On the fast 3D operations when the backbone is (the head's pointwise Conv3D too).
    """
    model = movinet_model.MovinetClassifier(backbone=backbone, num_classes=num_classes)
    model.build([None, n_frames, imgz, imgz, 3])
    if uses_fast_ops(backbone):
        use_fast_ops(model)
    return model


def _local_copy(uri: str) -> Path:
    """A remote (gs://) checkpoint prefix, directory or tarball, copied into a local folder; the local path."""
    target = Path(tempfile.mkdtemp(prefix="movinet-ckpt-"))
    uri = uri.rstrip("/")
    if uri.endswith((".tar.gz", ".tgz")):
        files, local = [uri], target / uri.rsplit("/", 1)[-1]
    elif storage.exists(f"{uri}.index"):  # a prefix: its .index and .data-* files
        files, local = storage.glob(f"{uri}.*"), target / uri.rsplit("/", 1)[-1]
    else:
        files, local = storage.glob(f"{uri}/*"), target
    if not files:
        raise FileNotFoundError(f"no TF checkpoint found at {uri}")
    for remote in files:
        with storage.open_read(remote) as source, open(target / remote.rsplit("/", 1)[-1], "wb") as copy:
            shutil.copyfileobj(source, copy)
    log.info("copied %d checkpoint file(s) from %s", len(files), uri)
    return local


def _checkpoint_prefix(path: Path) -> str:
    """A checkpoint prefix from a prefix, a directory holding one, or a .tar.gz of such a directory."""
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        target = Path(tempfile.mkdtemp(prefix="movinet-ckpt-"))
        with tarfile.open(path) as archive:
            archive.extractall(target, filter="data")
        path = target
    if path.is_dir():
        prefix = tf.train.latest_checkpoint(str(path))
        if prefix is None:
            index = sorted(path.rglob("*.index"))
            if not index:
                raise FileNotFoundError(f"no TF checkpoint found in {path}")
            prefix = str(index[0])[: -len(".index")]
        return prefix
    return str(path)


def restore_backbone(backbone: tf_keras.Model, checkpoint: str | Path, checkpoint_classes: int) -> None:
    """Restore backbone weights from a Model Garden classifier checkpoint (the head is left behind).

    The checkpoint's classifier has another number of classes than ours, so restore into a wrapper shaped like
    the checkpoint that shares our backbone.
    """
    local = _local_copy(str(checkpoint)) if storage.is_remote(checkpoint) else Path(checkpoint)
    prefix = _checkpoint_prefix(local)
    wrapper = build_classifier(backbone, checkpoint_classes)
    status = tf.train.Checkpoint(model=wrapper).restore(prefix)
    status.expect_partial().assert_existing_objects_matched()
    log.info("restored %s backbone weights from %s", backbone.name, prefix)


def _download_garden_checkpoint(model_id: str) -> Path:
    url = GARDEN_CHECKPOINT.format(model_id=model_id)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "movinet-pipeline"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / Path(url).name
    if not target.exists():
        with urllib.request.urlopen(url, timeout=NETWORK_TIMEOUT_S) as response:
            partial = target.with_name(target.name + ".part")
            partial.write_bytes(response.read())
            partial.rename(target)
    return target


def hub_cache_folder(cache_dir: str | Path, handle: str) -> Path:
    """Where TF Hub keeps `handle` in the cache `cache_dir` (TFHUB_CACHE_DIR): a folder named by its SHA-1."""
    return Path(cache_dir) / hashlib.sha1(handle.encode()).hexdigest()


def hub_model_dir(handle: str, download: bool) -> Path | None:
    """The local folder of the TF Hub model `handle`, or None.

    The local folder of the TF Hub model `handle`: from TF Hub's cache (TFHUB_CACHE_DIR), else downloaded when
    `download`, else None.
    """
    import tensorflow_hub as hub
    from tensorflow_hub import resolver

    cached = hub_cache_folder(resolver.tfhub_cache_dir(use_temp=True), handle)
    if (cached / layouts.SAVED_MODEL_PROTO).is_file():
        return cached
    return Path(hub.resolve(handle)) if download else None


def check_hub_movinet(model_dir: Path, handle: str) -> None:
    """ValueError unless the SavedModel's variables are rooted at Model Garden's MovinetClassifier.

    Read off the checkpoint's object graph (the root's `_backbone` child), without building a network.
    """
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    try:
        reader = tf.train.load_checkpoint(str(model_dir / "variables" / "variables"))
        graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    except (tf.errors.OpError, KeyError) as error:  # no TF2 variables (e.g. a TF1 Hub module)
        raise ValueError(f"TF Hub model {handle} has no TF2 checkpoint of variables: {error}") from None
    if not any(child.local_name == "_backbone" for child in graph.nodes[0].children):
        raise ValueError(f"TF Hub model {handle} is not an export of Model Garden's MovinetClassifier (its "
                         "variables have no backbone)")


def load_hub_classifier(classifier: movinet_model.MovinetClassifier, model_dir: Path, handle: str) -> None:
    """Read a TF Hub MoViNet classifier's variables into `classifier`, shaped like it.

    The Hub model is a SavedModel of Model Garden's Kinetics-600 MovinetClassifier: its variables are a checkpoint
    rooted at the classifier. ValueError naming `handle` when they do not fit.
    """
    check_hub_movinet(model_dir, handle)
    model_id = classifier.backbone.get_config()["model_id"]
    try:
        classifier.load_weights(str(model_dir / "variables" / "variables")).expect_partial() \
            .assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        raise ValueError(f"TF Hub model {handle} does not match MoViNet-{model_id.upper()} as tf-models-official "
                         f"builds it ({str(error)[:200]})") from None


def restore_backbone_from_hub(backbone: tf_keras.Model, model_dir: Path, handle: str) -> None:
    """Restore backbone weights from a TF Hub MoViNet classifier, through a Kinetics-600 classifier sharing it."""
    try:
        load_hub_classifier(build_classifier(backbone, KINETICS_CLASSES), model_dir, handle)
    except ValueError as error:
        raise ValueError(f"{error}; use pretrained: auto (Model Garden checkpoint) instead") from None
    log.info("restored %s backbone weights from TF Hub %s", backbone.name, handle)


def hub_classifier(model_id: str, handle: str) -> movinet_model.MovinetClassifier:
    """The TF Hub Kinetics-600 classifier `handle` rebuilt as the project's MoViNet-`model_id` (head included).

    The same weights as the Hub SavedModel, computed by this project's network, so the depthwise 3D convolutions
    take the fast path on CPU instead of the grouped Conv3D traced into the SavedModel. ValueError when the Hub
    model is not that network.
    """
    model_dir = hub_model_dir(handle, download=True)
    check_hub_movinet(model_dir, handle)  # before the network is built: building takes seconds
    classifier = build_classifier(build_backbone(model_id), KINETICS_CLASSES)
    load_hub_classifier(classifier, model_dir, handle)
    return classifier


def pretrained_backbone(config: PipelineConfig) -> tuple[tf_keras.Model, str]:
    """A backbone and where its pretrained weights came from.

    A backbone and where its weights came from: a checkpoint, a TF Hub model, Model Garden's Kinetics-600
    checkpoint (or, offline, the TF Hub model already in TF Hub's cache), or nothing (from scratch) when no
    pretrained source is reachable. Never hangs on the network in `auto`.
    """
    backbone = build_backbone(config.model_id, config.conv_type, config.norm_momentum, config.causal)
    if config.pretrained == "none":
        return backbone, "none (from scratch, by configuration)"
    if config.pretrained == "hub" or config.pretrained.startswith(HUB_PREFIXES):
        handle = hub_handle(config) if config.pretrained == "hub" else config.pretrained
        restore_backbone_from_hub(backbone, hub_model_dir(handle, download=True), handle)
        return backbone, f"TF Hub {handle}"
    if config.pretrained != "auto":
        restore_backbone(backbone, config.pretrained, KINETICS_CLASSES)
        return backbone, config.pretrained
    if config.conv_type != "3d":
        log.warning("the Kinetics-600 MoViNet checkpoints use conv_type=3d; with conv_type=%s the backbone trains "
                    "from scratch", config.conv_type)
        return backbone, f"none (no pretrained checkpoint for conv_type={config.conv_type})"
    try:
        checkpoint = _download_garden_checkpoint(config.model_id)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        handle = hub_handle(config)
        cached = hub_model_dir(handle, download=False)
        if cached:
            log.info("Model Garden's checkpoint is not reachable (%s); TF Hub's cache has %s",
                     getattr(error, "reason", error), handle)
            restore_backbone_from_hub(backbone, cached, handle)
            return backbone, f"TF Hub {handle} (cached)"
        log.warning("no pretrained MoViNet-%s reachable (%s; TF Hub handle %s): training from scratch",
                    config.model_id.upper(), getattr(error, "reason", error), handle)
        return backbone, "none (no pretrained source reachable)"
    restore_backbone(backbone, checkpoint, KINETICS_CLASSES)
    return backbone, str(checkpoint)


def export_saved_model(model: tf_keras.Model, path: str | Path) -> None:
    """Save a base-mode SavedModel whose `serving_default` takes float32 `image` [B, T, H, W, 3] in [0, 1].

    Only the variables and the serving function are saved (not every Keras layer's traced call), which keeps the
    export fast; the tf_keras weights file is the way back to a Keras model. SavedModels are served on CPU (the
    adapter's pods), so they always use the fast 3D operations, wherever the model was trained.
    """
    use_fast_ops(model)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.float32, name="image")])
    def serve(image: tf.Tensor) -> dict[str, tf.Tensor]:
        logits = model(image, training=False)
        return {"logits": logits, "probabilities": tf.nn.softmax(logits)}

    module = tf.Module()
    module.model_variables = list(model.variables)
    module.serve = serve
    tf.saved_model.save(module, str(path), signatures={"serving_default": serve})

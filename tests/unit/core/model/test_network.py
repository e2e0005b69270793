
"""Pretrained start: real restore code on a checkpoint the test makes; offline fallback that never hangs."""

import logging
import socket
import tarfile
import time

import numpy as np
import pytest
import tensorflow as tf

from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.model import network as modeling
from tests.model_weights import perturb


def _kinetics_checkpoint(tmp_path):
    """A Model Garden-style classifier checkpoint (600 classes) with non-trivial backbone weights."""
    backbone = modeling.build_backbone("a0")
    classifier = modeling.build_classifier(backbone, modeling.KINETICS_CLASSES, 4, 32)
    perturb(backbone.variables, seed=0)
    prefix = tf.train.Checkpoint(model=classifier).save(str(tmp_path / "ckpt" / "ckpt"))
    return backbone, prefix


@pytest.mark.slow
def test_backbone_is_restored_from_a_checkpoint_directory_and_tarball(tmp_path):
    saved, prefix = _kinetics_checkpoint(tmp_path)
    with tarfile.open(tmp_path / "movinet_a0_base.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "ckpt", arcname="movinet_a0_base")
    for source in (tmp_path / "ckpt", tmp_path / "movinet_a0_base.tar.gz", prefix):
        backbone, origin = modeling.pretrained_backbone(PipelineConfig(pretrained=str(source)))
        assert origin == str(source)
        assert len(backbone.variables) == len(saved.variables)
        for restored, original in zip(backbone.variables, saved.variables):
            np.testing.assert_array_equal(restored.numpy(), original.numpy())
        # a head for our labels on the restored backbone
        classifier = modeling.build_classifier(backbone, 4, 4, 32)
        assert classifier(tf.zeros([1, 4, 32, 32, 3])).shape == (1, 4)


@pytest.mark.slow
def test_backbone_is_restored_from_a_gcs_prefix_directory_and_tarball(tmp_path, gcs_emulator, monkeypatch):
    from google.cloud import storage

    from tests.conftest import GCS_BUCKET

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    saved, prefix = _kinetics_checkpoint(tmp_path)
    with tarfile.open(tmp_path / "movinet_a0_base.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "ckpt", arcname="movinet_a0_base")
    bucket = storage.Client.create_anonymous_client().bucket(GCS_BUCKET)
    for path in [*(tmp_path / "ckpt").iterdir(), tmp_path / "movinet_a0_base.tar.gz"]:
        bucket.blob(f"checkpoints/{path.name}").upload_from_filename(str(path))
    base = f"gs://{GCS_BUCKET}/checkpoints"
    for source in (base, f"{base}/{prefix.rsplit('/', 1)[-1]}", f"{base}/movinet_a0_base.tar.gz"):
        backbone, origin = modeling.pretrained_backbone(PipelineConfig(pretrained=source))
        assert origin == source
        for restored, original in zip(backbone.variables, saved.variables, strict=True):
            np.testing.assert_array_equal(restored.numpy(), original.numpy())


def test_unreachable_pretrained_source_falls_back_once_without_hanging(monkeypatch, caplog, tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setattr(modeling, "GARDEN_CHECKPOINT", f"http://127.0.0.1:{port}/movinet_{{model_id}}_base.tar.gz")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    backbone, origin = modeling.pretrained_backbone(PipelineConfig(pretrained="auto"))
    assert time.monotonic() - started < 10 * modeling.NETWORK_TIMEOUT_S
    assert origin == "none (no pretrained source reachable)"
    warnings = [r.getMessage() for r in caplog.records if "training from scratch" in r.getMessage()]
    assert len(warnings) == 1 and "tfhub.dev/tensorflow/movinet/a0/base/kinetics-600/classification/3" in warnings[0]
    assert backbone.name.startswith("movinet")
    assert (tmp_path / "movinet-pipeline").is_dir() and not list((tmp_path / "movinet-pipeline").iterdir())


@pytest.mark.slow
def test_backbone_is_restored_from_the_tf_hub_model_named_by_the_configuration(tmp_path, monkeypatch,
                                                                               hub_base_cache):
    config = PipelineConfig(pretrained="hub", hub_version=3)
    handle = modeling.hub_handle(config)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(hub_base_cache))
    saved = list(np.load(hub_base_cache / "backbone.npz").values())  # the Hub model's backbone, in order
    backbone, origin = modeling.pretrained_backbone(config)
    assert origin == f"TF Hub {handle}"
    assert len(saved) == len(backbone.variables) > 100
    for restored, original in zip(backbone.variables, saved, strict=True):
        np.testing.assert_array_equal(restored.numpy(), original)
    # offline, `auto` falls back to the model TF Hub's cache already holds
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setattr(modeling, "GARDEN_CHECKPOINT", f"http://127.0.0.1:{port}/movinet_{{model_id}}_base.tar.gz")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    backbone, origin = modeling.pretrained_backbone(PipelineConfig(pretrained="auto"))
    assert origin == f"TF Hub {handle} (cached)"
    np.testing.assert_array_equal(backbone.variables[-1].numpy(), saved[-1])


def test_hub_handle_follows_the_configuration():
    config = PipelineConfig(model_id="a3", model_mode="stream", hub_version=2)
    assert modeling.hub_handle(config) == "https://tfhub.dev/tensorflow/movinet/a3/stream/kinetics-600/classification/2"


def test_the_embedding_sizes_are_model_gardens_head_projections():
    from official.projects.movinet.modeling import movinet

    from movinet_pipeline.core.config import EMBEDDING_SIZES, MODEL_IDS

    assert EMBEDDING_SIZES == {model_id: movinet.BLOCK_SPECS[model_id][-1].project_filters for model_id in MODEL_IDS}

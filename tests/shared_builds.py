"""Expensive test inputs built once per test session and shared by the pytest-xdist workers.

The first worker to ask builds the folder under a file lock; the others wait for it and reuse it. Folders are
read-only by convention: a test that changes one copies it first.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder `name`, filled by `build(folder)` the first time any worker of this session asks for it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this session
    folder = root / "shared-builds" / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{folder}.lock"):
        if not (folder.parent / f"{name}.done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder.parent / f"{name}.done").touch()
    return folder


def in_hub_cache(cache: Path, handle: str) -> Path:
    """Where TF Hub looks for `handle` in the cache `cache` (TFHUB_CACHE_DIR) before the network."""
    return cache / hashlib.sha1(handle.encode()).hexdigest()


def save_kinetics_base_hub_model(cache: Path) -> None:
    """TF Hub's base-mode a0 (Model Garden's export of a Kinetics-600 classifier, its grouped Conv3D as tfhub.dev's
    models have it) with non-trivial weights, in the TF Hub cache `cache` under the default configuration's handle;
    its backbone's weights, in order, in `cache`/backbone.npz.
    """
    import numpy as np
    from official.projects.movinet.tools.export_saved_model import export_saved_model

    from movinet_pipeline.core.config import PipelineConfig
    from movinet_pipeline.core.model import network
    from tests.model_weights import perturb

    backbone = network.build_backbone("a0", fast_ops=False)
    classifier = network.build_classifier(backbone, network.KINETICS_CLASSES)
    perturb(classifier.variables, seed=5)
    export_saved_model(classifier, [1, None, None, None, 3],
                       str(in_hub_cache(cache, network.hub_handle(PipelineConfig()))))
    np.savez(cache / "backbone.npz", *[variable.numpy() for variable in backbone.variables])

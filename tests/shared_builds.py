"""Expensive test inputs built once per test session and shared by the pytest-xdist workers.

The first worker to ask builds the folder under a file lock, in a fresh process (TensorFlow never gives back the
memory a build's models held, and a worker runs for the whole session); the others wait for it and reuse it.
Folders are read-only by convention: a test that changes one copies it first.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from filelock import FileLock

SHARED_BUILDS_VARIABLE = "MOVINET_SHARED_BUILDS"  # set for a test's own process: its parent's folder


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder `name`, filled by `build(folder)` (a module-level function: it runs in a spawned process) the first
    time any worker of this session asks for it.
    """
    folder = shared_builds_root(tmp_path_factory) / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{folder}.lock"):
        if not (folder.parent / f"{name}.done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as process:
                process.submit(build, folder).result()
            (folder.parent / f"{name}.done").touch()
    return folder


def shared_builds_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's folder of shared builds: one for every xdist worker and every test run in its own process."""
    if os.environ.get(SHARED_BUILDS_VARIABLE):  # a test's own process (tests/own_process.py)
        return Path(os.environ[SHARED_BUILDS_VARIABLE])
    root = tmp_path_factory.getbasetemp()
    return (root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root) / "shared-builds"


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
                       str(network.hub_cache_folder(cache, network.hub_handle(PipelineConfig()))))
    np.savez(cache / "backbone.npz", *[variable.numpy() for variable in backbone.variables])


STREAM_HUB_SHAPE = (2, 5, 32, 32, 3)  # clips, frames, height, width, channels of save_kinetics_stream_hub_model


def stream_hub_clips():
    """The clips save_kinetics_stream_hub_model scores (the same in every process)."""
    import tensorflow as tf

    return tf.random.stateless_uniform(STREAM_HUB_SHAPE, seed=[1, 2])


def save_kinetics_stream_hub_model(cache: Path) -> None:
    """TF Hub's causal a0 stream model for the default configuration, as Model Garden's export makes it (the layout
    tfhub.dev serves: `init_states` and `call` signatures, states in and out, Model Garden's kernels), with
    non-trivial weights (ReZero scales too), in the TF Hub cache `cache`; in `cache`/expected.npz, the logits of the
    same network in base mode on `stream_hub_clips()`.
    """
    import numpy as np
    from official.projects.movinet.tools.export_saved_model import export_saved_model

    from movinet_pipeline.core.config import PipelineConfig
    from movinet_pipeline.core.model import network
    from movinet_pipeline.core.model.stream_export import build_stream_classifier
    from tests.model_weights import perturb

    _, frames, imgz, _, _ = STREAM_HUB_SHAPE
    stream = build_stream_classifier(PipelineConfig(causal=True, imgz=imgz, n_frames=frames),
                                     network.KINETICS_CLASSES, fast_ops=False)
    base = network.build_classifier(network.build_backbone("a0", causal=True, fast_ops=False),
                                    network.KINETICS_CLASSES, frames, imgz)
    perturb(stream.variables, seed=3)
    base.set_weights(stream.get_weights())
    handle = network.hub_handle(PipelineConfig(model_mode="stream"))
    export_saved_model(stream, [1, 1, imgz, imgz, 3], str(network.hub_cache_folder(cache, handle)), causal=True)
    np.savez(cache / "expected.npz", logits=base(stream_hub_clips(), training=False).numpy())


def save_relu_kinetics_hub_model(cache: Path) -> None:
    """A Hub a0 with the project's variables but another activation (relu: a setting that holds no weights), with
    non-trivial weights, in the TF Hub cache `cache` under the default configuration's handle.
    """
    from official.projects.movinet.modeling import movinet
    from official.projects.movinet.tools.export_saved_model import export_saved_model

    from movinet_pipeline.core.config import PipelineConfig
    from movinet_pipeline.core.model import network
    from tests.model_weights import perturb

    classifier = network.build_classifier(movinet.Movinet(model_id="a0", activation="relu"),
                                          network.KINETICS_CLASSES)
    perturb(classifier.variables, seed=6)
    export_saved_model(classifier, [1, None, None, None, 3],
                       str(network.hub_cache_folder(cache, network.hub_handle(PipelineConfig()))))

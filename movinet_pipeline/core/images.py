"""The container images the components run in: named in this one place, overridable at compile time."""

from __future__ import annotations

import os

from movinet_pipeline import __version__

DEFAULT_REGISTRY = "ghcr.io/movinet-pipeline"


def image(runtime: str) -> str:
    """`<registry>/movinet-<runtime>:<tag>`; MOVINET_IMAGE_REGISTRY / MOVINET_IMAGE_TAG override at compile time."""
    registry = os.environ.get("MOVINET_IMAGE_REGISTRY", DEFAULT_REGISTRY).rstrip("/")
    tag = os.environ.get("MOVINET_IMAGE_TAG", __version__)
    return f"{registry}/movinet-{runtime}:{tag}"


PIPELINE_IMAGE = image("pipeline")  # config, export, Beam driver, select, register (CPU, no TensorFlow)
TRAINER_IMAGE = image("trainer")  # train, evaluate: TensorFlow with CUDA, tf-models-official (GPU node pools)

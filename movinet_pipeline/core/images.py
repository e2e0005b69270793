"""The container images the components run in: named in this one place, overridable at compile time.

`make images` (images/build.py) builds each runtime below under these names from the working tree, with the OCI
label `REVISION_LABEL` (the git commit); `movinet-pipeline run --runner docker` runs the steps in them and
`compile --images FILE` pins them by digest.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from movinet_pipeline import __version__

DEFAULT_REGISTRY = "ghcr.io/movinet-pipeline"
REVISION_LABEL = "org.opencontainers.image.revision"
# runtime -> (pip extras of the project it installs, what runs in it)
RUNTIMES = {
    "pipeline": ((), "config, export, the Beam driver, baseline, select, register: the core install, no TensorFlow"),
    "trainer": (("gpu",), "train and evaluate on GPU node pools: TensorFlow with its CUDA wheels"),
    "trainer-cpu": (("train",), "train and evaluate on CPU (local runs, CI) and Dataloop's serving pods"),
}


# What an image is built from (images/Dockerfile's COPY, .dockerignore): its revision is "dirty" only if these are.
BUILD_CONTEXT = ("pyproject.toml", "setup.py", "README.md", "movinet_pipeline", "components", "pipelines",
                 "dataloop_adapter")


def source_revision() -> str | None:
    """The commit of the checkout this package runs from, `+dirty` when what an image is built from differs from it.

    None outside a git checkout (an installed wheel).
    """
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / ".git").exists():
        return None

    def git(*args: str) -> str:  # no optional locks: reading never rewrites .git/index
        return subprocess.run(["git", "--no-optional-locks", *args], cwd=checkout, capture_output=True, text=True,
                              check=True).stdout.strip()
    try:  # new files count too: `COPY` takes them (ignored ones, e.g. __pycache__, .dockerignore leaves out)
        edited = git("status", "--porcelain", "--untracked-files=all", "--", *BUILD_CONTEXT)
        return git("rev-parse", "HEAD") + ("+dirty" if edited else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def image(runtime: str) -> str:
    """`<registry>/movinet-<runtime>:<tag>`; MOVINET_IMAGE_REGISTRY / MOVINET_IMAGE_TAG override at compile time."""
    registry = os.environ.get("MOVINET_IMAGE_REGISTRY", DEFAULT_REGISTRY).rstrip("/")
    tag = os.environ.get("MOVINET_IMAGE_TAG", __version__)
    return f"{registry}/movinet-{runtime}:{tag}"


PIPELINE_IMAGE = image("pipeline")  # config, export, Beam driver, select, register (CPU, no TensorFlow)
TRAINER_IMAGE = image("trainer")  # train, evaluate: TensorFlow with CUDA, tf-models-official (GPU node pools)
SERVING_IMAGE = image("trainer-cpu")  # the Dataloop adapter (dataloop.json's runner image for CPU pods)
DATAFLOW_WORKER_IMAGE = image("dataflow-worker")  # Beam SDK image + what the workers import (images/dataflow-worker)

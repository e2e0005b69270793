"""The images: Dockerfiles pass hadolint, and each image's lock file pins every distribution its code imports.

The import check is measured, not declared: a fresh interpreter imports the modules an image runs and reports
every third-party distribution that ended up in `sys.modules`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

DOCKERFILES = sorted(REPO.glob("images/*/Dockerfile"))
PIPELINE_MODULES = ["components.export_dataset.export", "components.export_dataset.dataloop_export",
                    "components.build_tfrecords.beam_pipeline", "components.evaluate.evaluator",
                    "components.register_model.register", "components.register_model.dataloop_registry",
                    "components.train.trainer", "pipelines.training", "movinet_pipeline.cli",
                    "movinet_pipeline.local_run", "dataloop_adapter.model_adapter"]
WORKER_MODULES = ["components.build_tfrecords.beam_pipeline"]

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


def _dependency_closure(root: str) -> set[str]:
    """`root` and everything it requires (unconditionally), as installed here."""
    import importlib.metadata as metadata

    seen, todo = set(), [root]
    while todo:
        name = _normalise(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0] for r in requirements if "extra ==" not in r]
    return seen


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_is_hadolint_clean(dockerfile):
    hadolint = shutil.which("hadolint") or str(REPO / ".venv" / "bin" / "hadolint")
    completed = subprocess.run([hadolint, "--no-color", str(dockerfile)], capture_output=True, text=True,
                               timeout=60)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_pipeline_and_trainer_lock_pins_every_imported_distribution():
    imported = _imported_distributions(PIPELINE_MODULES)
    assert {"dtlpy", "tensorflow", "apache-beam", "kfp", "av"} <= imported  # the check sees real imports
    assert imported - _pinned(REPO / "requirements.lock") == set()


def test_the_dataflow_worker_image_provides_every_worker_import_without_tensorflow():
    imported = _imported_distributions(WORKER_MODULES)
    provided = _pinned(REPO / "images" / "dataflow-worker" / "requirements.lock") | _dependency_closure("apache-beam")
    assert "av" in imported and not {"tensorflow", "tf-keras", "tf-models-official"} & imported
    assert imported - provided == set()

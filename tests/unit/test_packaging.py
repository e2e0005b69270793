"""The installed package: one top-level import package, and import contracts that hold on what is installed.

The wheel is built once per module from a copy of the files git tracks or would track (the source tree is left as
it is).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

MAPPED_FOLDERS = {"components": "movinet_pipeline/components", "pipelines": "movinet_pipeline/pipelines",
                  "dataloop_adapter": "movinet_pipeline/dataloop_adapter"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((REPO / name).read_bytes())
    output = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w",
                    str(output), str(source)], check=True, capture_output=True, timeout=300)
    (built,) = output.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def test_pip_install_adds_exactly_one_top_level_import_package(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert archive.read(top_level).decode().split() == ["movinet_pipeline"]
    roots = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert roots == {"movinet_pipeline"}


def test_every_package_folder_is_installed_under_the_namespace(wheel):
    """A new component folder is installed without listing it anywhere (setup.py finds the packages)."""
    with zipfile.ZipFile(wheel) as archive:
        installed = {name.rsplit("/", 1)[0] for name in archive.namelist() if name.endswith("/__init__.py")}
    expected = {str(p.parent.relative_to(REPO)) for p in (REPO / "movinet_pipeline").rglob("__init__.py")}
    for folder, package in MAPPED_FOLDERS.items():
        expected |= {package + str(p.parent.relative_to(REPO / folder)).removeprefix(".").join(["/", ""]).rstrip("/")
                     for p in (REPO / folder).rglob("__init__.py")}
    assert installed == {name.rstrip("/") for name in expected}
    files = zipfile.ZipFile(wheel).namelist()
    assert "movinet_pipeline/dataloop_adapter/dataloop.json" in files
    assert "movinet_pipeline/core/model/kinetics_600_labels.txt" in files  # the pretrained heads' names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in files)


def test_the_dataloop_app_entry_point_loads_the_adapter(installed):
    """Dataloop's agent loads the manifest's entryPoint as a file of the codebase and takes its className."""
    import json

    manifest = json.loads((REPO / "dataloop_adapter" / "dataloop.json").read_text())
    (module,) = manifest["components"]["modules"]
    code = ("import importlib.util, sys, dtlpy as dl\n"
            f"spec = importlib.util.spec_from_file_location('adapter_entry', {str(REPO / module['entryPoint'])!r})\n"
            "entry = sys.modules[spec.name] = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(entry)\n"
            f"adapter = getattr(entry, {module['className']!r})\n"
            "assert issubclass(adapter, dl.BaseModelAdapter), adapter\n"
            "print(adapter.__module__, adapter.__name__)")
    completed = subprocess.run([sys.executable, "-c", code], cwd=installed, capture_output=True, text=True,
                               timeout=300, env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin",
                                                 "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": str(installed)})
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.split()[-1] == module["className"]


def test_the_import_contracts_hold_on_the_installed_package(installed):
    """Layers (core <- components <- pipelines <- app), the adapter on core only, no cycles at any depth: the
    contracts in pyproject.toml, checked by import-linter on the installed layout (function-level imports too).
    """
    completed = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--config",
                                str(REPO / "pyproject.toml"), "--no-cache"], cwd=installed, capture_output=True,
                               text=True, timeout=300, env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"})
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert "Contracts: 4 kept, 0 broken." in completed.stdout

"""Shared, session-scoped fixtures: the expensive things (sample videos, the one whole pipeline run) are built once.

Tests under `tests/integration/`, and every test that uses the whole pipeline run, are marked `e2e` (and the run's
users `docker`: its steps run in the images); `make test-fast` leaves them out. Under pytest-xdist, the tests of the
whole run share one worker (`pytest_xdist_make_scheduler`), so it is built once per session.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.own_process import (
    CHILD_VARIABLE,
    GROUPS_VARIABLE,
    pytest_pyfunc_call,  # noqa: F401 - the hook: `own_process` tests called in a child
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# dtlpy reads DATALOOP_PATH (its cookie/state folder) once, at import: point it at a private folder first.
os.environ["DATALOOP_PATH"] = tempfile.mkdtemp(prefix="dataloop-home-")
for _variable in ("DATALOOP_API_KEY", "DATALOOP_API_KEY_FILE", "DATALOOP_M2M_EMAIL", "DATALOOP_M2M_PASSWORD",
                  "DATALOOP_ENV", "DATALOOP_CREDENTIALS_SECRET", "SECRET_MANAGER_ENDPOINT"):
    os.environ.pop(_variable, None)
REPO = Path(__file__).resolve().parents[1]
GCS_BUCKET = "movinet-test"
WHOLE_PIPELINE_RUNS = {"pipeline_run": "whole-run"}  # fixture -> group
RUN_ID = "dataloop-e2e"  # the whole run's


_RUNS_TESTS = True  # False in pytest-xdist's controller, which runs none itself


def pytest_configure(config: pytest.Config) -> None:
    global _RUNS_TESTS
    _RUNS_TESTS = bool(os.environ.get("PYTEST_XDIST_WORKER")) or not getattr(config.option, "numprocesses", None)
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # the controller (or a run without xdist): workers inherit it
        os.environ[GROUPS_VARIABLE] = tempfile.mkdtemp(prefix="movinet-test-groups-")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups, heavy = {}, {}  # heavy: node id -> weight (a test in its own process is among the longest)
    for item in items:
        runs = [fixture for fixture in WHOLE_PIPELINE_RUNS if fixture in item.fixturenames]
        if runs or "integration" in item.path.parts:
            item.add_marker(pytest.mark.e2e)
        if runs:
            item.add_marker(pytest.mark.docker)
            groups[item.nodeid] = WHOLE_PIPELINE_RUNS[runs[0]]
        if any(item.get_closest_marker(mark) for mark in ("slow", "e2e", "docker")):
            heavy[item.nodeid] = 3 if item.get_closest_marker("own_process") else 1
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and os.environ.get(GROUPS_VARIABLE):
        (Path(os.environ[GROUPS_VARIABLE]) / f"{worker}.json").write_text(json.dumps({"groups": groups,
                                                                                       "heavy": heavy}))


def pytest_runtest_logfinish(nodeid: str, location: tuple) -> None:
    """With MOVINET_TEST_MEMORY_LOG set: one line per test, when it finished (UTC), the process that ran it and its
    resident and peak memory (MiB) there, to find what a worker holds (a worker killed for memory shows as "node
    down" under xdist) and when a worker sat idle.
    """
    log = os.environ.get("MOVINET_TEST_MEMORY_LOG")
    if log and _RUNS_TESTS:
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        mib = {key: int(status[key].split()[0]) // 1024 for key in ("VmRSS", "VmHWM")}
        with open(log, "a") as out:
            process = "own-process" if os.environ.get(CHILD_VARIABLE) else os.environ.get("PYTEST_XDIST_WORKER", "main")
            out.write(f"{time.strftime('%H:%M:%S', time.gmtime())} {process} {mib['VmRSS']} {mib['VmHWM']} "
                      f"{nodeid}\n")


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Load scheduling in which the tests of the whole pipeline run form one unit of work (one worker).

    pytest-xdist's own `loadgroup` marks a group by renaming the test's node id, which pytest 9 no longer allows;
    this scheduler reads the groups the workers wrote instead. Every other test goes with its module, so module
    fixtures (a trained model) are built once. Units holding a slow, e2e or docker test go first (the whole run
    first of all, then by weight: an `own_process` test counts three), the rest by size: the minutes-long runs then
    overlap the many short tests instead of each other at the end.
    """
    from xdist.scheduler import LoadScopeScheduling

    class RunGroupScheduling(LoadScopeScheduling):
        def _read_groups(self) -> None:
            self._groups, self._heavy = {}, {}
            for path in Path(os.environ[GROUPS_VARIABLE]).glob("*.json"):
                written = json.loads(path.read_text())
                self._groups.update(written["groups"])
                self._heavy.update(written["heavy"])

        def _split_scope(self, nodeid: str) -> str:
            if not hasattr(self, "_groups"):
                self._read_groups()
            return self._groups.get(nodeid) or nodeid.split("::")[0]  # else its module: module fixtures once

        def _assign_work_unit(self, node) -> None:
            if not getattr(self, "_heavy_first", False):
                weights = {scope: sum(self._heavy.get(nodeid, 0) for nodeid in work)
                           for scope, work in self.workqueue.items()}
                heavy = sorted((scope for scope, weight in weights.items() if weight),
                               key=lambda scope: (scope in WHOLE_PIPELINE_RUNS.values(), weights[scope]), reverse=True)
                for scope in reversed(heavy):  # the whole run first, then the heaviest
                    self.workqueue.move_to_end(scope, last=False)
                self._heavy_first = True
            super()._assign_work_unit(node)

    return RunGroupScheduling(config, log)


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from movinet_pipeline.core.media.sample_data import SampleSpec, generate_sample_dataset

    return generate_sample_dataset(tmp_path_factory.mktemp("sample") / "data", SampleSpec(train_per_class=3,
                                                                                         validation_per_class=2))


@pytest.fixture(scope="session")
def exported_dir(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from movinet_pipeline.core.sources.download_folder import export_local

    output = tmp_path_factory.mktemp("export") / "dataset"
    export_local(sample_dir, output)
    return output


@pytest.fixture(scope="session")
def dataloop_emulator():
    """The local Dataloop gate, with a project that has the MoViNet app (dataloop.json) installed."""
    from tests.dataloop_emulator.server import DataloopEmulator

    emulator = DataloopEmulator().start()
    emulator.project = emulator.store.add_project("movinet-tests")
    manifest = json.loads((REPO / "dataloop_adapter" / "dataloop.json").read_text())
    emulator.store.add_app(emulator.project["id"], manifest)
    yield emulator
    emulator.stop()
    assert emulator.unknown_routes == [], f"dtlpy called routes the emulator does not serve: {emulator.unknown_routes}"


@pytest.fixture
def dataloop_env(dataloop_emulator, monkeypatch: pytest.MonkeyPatch):
    """Credentials and gate for this test, from the environment as in production."""
    monkeypatch.setenv("DATALOOP_ENV", dataloop_emulator.url)
    monkeypatch.setenv("DATALOOP_API_KEY", dataloop_emulator.issue_token())
    return dataloop_emulator


@pytest.fixture(scope="session")
def dataloop_dataset(dataloop_emulator, sample_dir: Path) -> dict:
    """The small sample uploaded into the emulator through dtlpy (videos, then class annotations)."""
    from tests.dataloop_emulator.seed import upload_download_folder

    dataset = dataloop_emulator.store.add_dataset(dataloop_emulator.project["id"], "directions",
                                                  labels=["down", "left", "right", "up"])
    with _dataloop_credentials(dataloop_emulator):
        from movinet_pipeline.core.clients.dataloop import connect

        dl = connect()
        upload_download_folder(dl, dl.datasets.get(dataset_id=dataset["id"]), sample_dir)
    return dataset


@contextlib.contextmanager
def _dataloop_credentials(emulator):
    saved = {key: os.environ.get(key) for key in ("DATALOOP_ENV", "DATALOOP_API_KEY")}
    os.environ.update({"DATALOOP_ENV": emulator.url, "DATALOOP_API_KEY": emulator.issue_token()})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def pipeline_run(dataloop_emulator, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The whole pipeline once, as deployed, shared by every test of a whole run: the bundled sample uploaded into
    the Dataloop emulator through dtlpy, then `movinet-pipeline run --runner docker --source dataloop://...
    --registry dataloop://... --profile cpu-sample --causal true` (each step in the images `make images` built;
    .ci/run builds them). Causal, so the model also gets its stream SavedModel and TFLite edge models.

    The same model is also registered in a local registry folder (`registry`), for the tests of that registry.
    """
    from movinet_pipeline.core.media.sample_data import generate_sample_dataset
    from movinet_pipeline.core.registries.local import register_local
    from tests.dataloop_emulator.seed import upload_download_folder

    sample = generate_sample_dataset(tmp_path_factory.mktemp("dataloop-sample") / "data")
    dataset = dataloop_emulator.store.add_dataset(dataloop_emulator.project["id"], "directions-e2e",
                                                  labels=["down", "left", "right", "up"])
    with _dataloop_credentials(dataloop_emulator):
        from movinet_pipeline.core.clients.dataloop import connect

        dl = connect()
        upload_download_folder(dl, dl.datasets.get(dataset_id=dataset["id"]), sample)
        env = dict(os.environ)
    # As on a workstation: no DATALOOP_PATH set, a home and a temporary folder of its own (scanned for the key).
    home, temporary = tmp_path_factory.mktemp("dataloop-run-home"), tmp_path_factory.mktemp("dataloop-run-tmp")
    env.pop("DATALOOP_PATH", None)
    env.update(HOME=str(home), TMPDIR=str(temporary))
    output = tmp_path_factory.mktemp("dataloop-run") / "out"
    cache_root = tmp_path_factory.mktemp("dataloop-run-cache")
    completed = subprocess.run(
        [sys.executable, "-m", "movinet_pipeline.app.cli", "run", "--source", f"dataloop://{dataset['id']}",
         "--registry", f"dataloop://{dataloop_emulator.project['id']}", "--profile", "cpu-sample", "--causal", "true",
         "--output", str(output), "--run-id", RUN_ID, "--cache-root", str(cache_root), "--runner", "docker"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=40 * 60,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    run_dir = next(p for p in (output / "kfp").iterdir() if p.is_dir())
    run = {"dataset": dataset, "sample": sample, "stdout": completed.stdout, "stderr": completed.stderr,
           "key": env["DATALOOP_API_KEY"], "home": home, "tmp": temporary, "output": output, "run_dir": run_dir,
           "cache_root": cache_root, "examples": run_dir / "build-tfrecords" / "examples",
           "model": run_dir / "train" / "model", "evaluation": run_dir / "evaluate" / "evaluation",
           "export": run_dir / "export-dataset" / "dataset",
           "metrics": json.loads((run_dir / "evaluate" / "evaluation" / "metrics.json").read_text()),
           "registered": json.loads((run_dir / "register-model" / "registered" / "registered.json").read_text()),
           "registry": tmp_path_factory.mktemp("local-registry")}
    register_local(run["model"], run["evaluation"], run["registry"], run_id=RUN_ID, dataset_dir=run["export"])
    return run


@pytest.fixture(scope="session")
def gcs_emulator():
    """A local GCS (gcp-storage-emulator) with bucket GCS_BUCKET; clients reach it via STORAGE_EMULATOR_HOST."""
    from gcp_storage_emulator.server import create_server

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=GCS_BUCKET)
    threading.Thread(target=server.start, daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def hub_base_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TF Hub cache (TFHUB_CACHE_DIR) holding the default handle's base-mode a0 Kinetics-600 model, built once per
    session for every worker (tests/shared_builds.py); read-only: copy it to add models.
    """
    from tests.shared_builds import built_once, save_kinetics_base_hub_model

    return built_once(tmp_path_factory, "hub-base-a0", save_kinetics_base_hub_model)

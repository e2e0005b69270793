"""Shared, session-scoped fixtures: the expensive things (sample videos, one full pipeline run) are built once.

Tests under `tests/integration/`, and every test that uses one of the whole-pipeline runs, are marked `e2e`
(`make test-fast` leaves them out). Under pytest-xdist, the tests of each whole-pipeline run share one worker
(`pytest_xdist_make_scheduler`), so each run is built once per session.
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
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# dtlpy reads DATALOOP_PATH (its cookie/state folder) once, at import: point it at a private folder first.
os.environ["DATALOOP_PATH"] = tempfile.mkdtemp(prefix="dataloop-home-")
for _variable in ("DATALOOP_API_KEY", "DATALOOP_API_KEY_FILE", "DATALOOP_M2M_EMAIL", "DATALOOP_M2M_PASSWORD",
                  "DATALOOP_ENV", "DATALOOP_CREDENTIALS_SECRET", "SECRET_MANAGER_ENDPOINT"):
    os.environ.pop(_variable, None)
REPO = Path(__file__).resolve().parents[1]
GCS_BUCKET = "movinet-test"
WHOLE_PIPELINE_RUNS = {"pipeline_run": "readme-run", "dataloop_pipeline_run": "dataloop-run"}  # fixture -> group


# Where each worker writes the group of every test it collected, for the controller's scheduler (below).
GROUPS_VARIABLE = "MOVINET_TEST_GROUPS"


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # the controller (or a run without xdist): workers inherit it
        os.environ[GROUPS_VARIABLE] = tempfile.mkdtemp(prefix="movinet-test-groups-")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups = {}
    for item in items:
        runs = [fixture for fixture in WHOLE_PIPELINE_RUNS if fixture in item.fixturenames]
        if runs or "integration" in item.path.parts:
            item.add_marker(pytest.mark.e2e)
        if runs:
            groups[item.nodeid] = WHOLE_PIPELINE_RUNS[runs[0]]
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and os.environ.get(GROUPS_VARIABLE):
        (Path(os.environ[GROUPS_VARIABLE]) / f"{worker}.json").write_text(json.dumps(groups))


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Load scheduling in which the tests of each whole-pipeline run form one unit of work (one worker).

    pytest-xdist's own `loadgroup` marks a group by renaming the test's node id, which pytest 9 no longer allows;
    this scheduler reads the groups the workers wrote instead. Every other test goes with its module, so module
    fixtures (a trained model) are built once. Units are handed out largest first.
    """
    from xdist.scheduler import LoadScopeScheduling

    class RunGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if not hasattr(self, "_groups"):
                self._groups = {}
                for path in Path(os.environ[GROUPS_VARIABLE]).glob("*.json"):
                    self._groups.update(json.loads(path.read_text()))
            return self._groups.get(nodeid) or nodeid.split("::")[0]  # else its module: module fixtures once

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
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`movinet-pipeline run` exactly as the README gives it (bundled sample, cpu-sample profile), once."""
    output = tmp_path_factory.mktemp("run") / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "movinet_pipeline.app.cli", "run", "--output", str(output), "--run-id", "e2e-test"],
        cwd=REPO, capture_output=True, text=True, timeout=40 * 60,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    run_dirs = [p for p in (output / "kfp").iterdir() if p.is_dir()]
    assert len(run_dirs) == 1
    run_dir = run_dirs[0]
    return {
        "output": output,
        "stdout": completed.stdout,
        "run_dir": run_dir,
        "dataset": run_dir / "export-dataset" / "dataset",
        "examples": run_dir / "build-tfrecords" / "examples",
        "model": run_dir / "train" / "model",
        "evaluation": run_dir / "evaluate" / "evaluation",
        "metrics": json.loads((run_dir / "evaluate" / "evaluation" / "metrics.json").read_text()),
        "registry": output / "registry",
    }


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
def dataloop_pipeline_run(dataloop_emulator, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The whole pipeline once with Dataloop as source and registry, each step in its image (as deployed): the
    bundled sample is uploaded into the emulator through dtlpy, then `movinet-pipeline run --runner docker --source
    dataloop://... --registry dataloop://...` (the images `make images` built; .ci/run builds them).
    """
    from movinet_pipeline.core.media.sample_data import generate_sample_dataset
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
         "--registry", f"dataloop://{dataloop_emulator.project['id']}", "--profile", "cpu-sample",
         "--output", str(output), "--run-id", "dataloop-e2e", "--cache-root", str(cache_root), "--runner", "docker"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=40 * 60,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    run_dir = next(p for p in (output / "kfp").iterdir() if p.is_dir())
    return {"dataset": dataset, "sample": sample, "stdout": completed.stdout, "stderr": completed.stderr,
            "key": env["DATALOOP_API_KEY"], "home": home, "tmp": temporary, "output": output, "run_dir": run_dir,
            "cache_root": cache_root, "examples": run_dir / "build-tfrecords" / "examples",
            "model": run_dir / "train" / "model",
            "evaluation": run_dir / "evaluate" / "evaluation", "export": run_dir / "export-dataset" / "dataset",
            "registered": json.loads((run_dir / "register-model" / "registered" / "registered.json").read_text())}


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

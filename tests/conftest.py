"""Shared, session-scoped fixtures: the expensive things (sample videos, one full pipeline run) are built once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from movinet_pipeline.sample_data import SampleSpec, generate_sample_dataset

    return generate_sample_dataset(tmp_path_factory.mktemp("sample") / "data", SampleSpec(train_per_class=3,
                                                                                         validation_per_class=2))


@pytest.fixture(scope="session")
def exported_dir(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from components.export_dataset.export import export_local

    output = tmp_path_factory.mktemp("export") / "dataset"
    export_local(sample_dir, output)
    return output


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`movinet-pipeline run` exactly as the README gives it (bundled sample, cpu-sample profile), once."""
    output = tmp_path_factory.mktemp("run") / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "movinet_pipeline.cli", "run", "--output", str(output), "--run-id", "e2e-test"],
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

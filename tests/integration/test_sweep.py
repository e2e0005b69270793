"""The sweep pipeline end to end under kfp.local: each branch trains the model_id it was given, the best by the
evaluation metric is selected, and only that one is registered.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def test_sweep_over_model_ids_registers_only_the_best(sample_dir, tmp_path):
    output = tmp_path / "sweep"
    command = [sys.executable, "-m", "movinet_pipeline.app.cli", "run", "--source", str(sample_dir), "--model-ids",
               "a0,a1", "--profile", "cpu-sample", "--num-epochs", "2", "--imgz", "32", "--n-frames", "4",
               "--pretrained", "none", "--output", str(output), "--run-id", "sweep-test"]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30 * 60)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    run_dir = next(p for p in (output / "kfp").iterdir() if p.is_dir())
    branches = sorted(run_dir.glob("for-loop-*-iteration-*"))
    trained = {}
    for branch in branches:
        config = json.loads((branch / "train" / "model" / "config.json").read_text())
        score = json.loads((branch / "evaluate" / "evaluation" / "metrics.json").read_text())["top1_accuracy"]
        trained[config["model_id"]] = (score, (branch / "train" / "model" / "model.weights.h5").stat().st_size)
    assert set(trained) == {"a0", "a1"}
    assert trained["a1"][1] > 1.5 * trained["a0"][1]  # a1 really is the bigger network, not a0 twice
    best = max(sorted(trained), key=lambda model_id: trained[model_id][0])  # ties: the earlier (a0) wins
    registered = sorted(p.name for p in (output / "registry").iterdir() if not p.name.startswith("."))
    assert registered == [f"movinet-{best}-sweep-test"]
    summary = (run_dir / "select-best" / "summary").read_text()
    assert f"| {best} |" in summary and "**selected**" in summary.split(f"| {best} |")[1].splitlines()[0]
    assert f"Registered model: movinet-{best}-sweep-test" in completed.stdout

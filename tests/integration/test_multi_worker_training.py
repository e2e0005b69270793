"""Two trainer processes on loopback ports train one model together (TF_CONFIG, MultiWorkerMirroredStrategy).

Killed mid-run and restarted, they resume; only the chief writes the user's output; the other worker's copy (in its
own temporary folder) holds the same weights.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.examples.job import build_examples
from tests.conftest import REPO

pytestmark = pytest.mark.slow
CONFIG = PipelineConfig(imgz=32, n_frames=4, record_frames=6, batch_size=4, num_epochs=3, conv_type="2plus1d",
                        pretrained="none", norm_momentum=0.9, num_shards=2, backup_steps=0)
FLAGS = ["--imgz", "32", "--n-frames", "4", "--record-frames", "6", "--batch-size", "4", "--num-epochs", "3",
         "--conv-type", "2plus1d", "--pretrained", "none", "--norm-momentum", "0.9", "--backup-steps", "0"]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for probe in sockets:
        probe.bind(("127.0.0.1", 0))
    ports = [probe.getsockname()[1] for probe in sockets]
    for probe in sockets:
        probe.close()
    return ports


def _start(task: str, ports: list[int], examples: Path, output: Path, home: Path, log: Path) -> subprocess.Popen:
    cluster = {"chief": [f"127.0.0.1:{ports[0]}"], "worker": [f"127.0.0.1:{ports[1]}"]}
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task, "index": 0}}),
           "TMPDIR": str(home), "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, "-m", "movinet_pipeline.app.cli", "train", "--examples", str(examples),
                             "--output", str(output), *FLAGS], cwd=REPO, env=env, stdout=log.open("a"),
                            stderr=subprocess.STDOUT)


def _epochs_logged(output: Path) -> int:
    path = output / layouts.CHECKPOINTS / layouts.HISTORY_CSV
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def _weights(path: Path) -> dict[str, np.ndarray]:
    arrays = {}
    with h5py.File(path) as weights:
        weights.visititems(lambda name, node: arrays.__setitem__(name, node[()]) if isinstance(node, h5py.Dataset)
                           else None)
    return arrays


def test_two_workers_train_one_model_and_resume_after_both_are_killed(exported_dir, tmp_path):
    examples = tmp_path / "examples"
    build_examples(exported_dir, examples, CONFIG, ["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    output, logs = tmp_path / "model", {task: tmp_path / f"{task}.log" for task in ("chief", "worker")}
    homes = {task: tmp_path / f"{task}-tmp" for task in ("chief", "worker")}

    ports = _free_ports(2)
    processes = [_start(task, ports, examples, output, homes[task], logs[task]) for task in ("chief", "worker")]
    deadline = time.monotonic() + 600
    while _epochs_logged(output) < 1 and time.monotonic() < deadline and all(p.poll() is None for p in processes):
        time.sleep(0.5)
    assert _epochs_logged(output) >= 1, logs["chief"].read_text()[-3000:] + logs["worker"].read_text()[-3000:]
    for process in processes:
        process.send_signal(signal.SIGKILL)
        process.wait()
    killed_after = _epochs_logged(output)
    assert killed_after < CONFIG.num_epochs, "killed before the end"

    ports = _free_ports(2)
    processes = [_start(task, ports, examples, output, homes[task], logs[task]) for task in ("chief", "worker")]
    for process in processes:
        assert process.wait(timeout=900) == 0, logs["chief"].read_text()[-3000:] + logs["worker"].read_text()[-3000:]

    chief_log = logs["chief"].read_text()
    assert "training on 2 replica(s) in 2 worker(s) (this is chief 0, the chief): global batch 4 = 2 per replica" \
        in chief_log
    assert f"resuming after epoch {killed_after} of 3" in chief_log
    history = json.loads((output / layouts.HISTORY).read_text())
    assert history["epoch"] == [0.0, 1.0, 2.0], history
    folder = layouts.ModelFolder(output)
    assert folder.has_saved_model() and folder.weights(CONFIG.weights_filename).is_file()
    assert layouts.read_labels(output) == ["down", "left", "right", "up"] and folder.config.is_file()
    assert not [p for p in output.rglob("*") if "workertemp" in p.name], "a worker wrote into the user's output"

    private = list(homes["worker"].glob("movinet-worker-0-*"))
    assert len(private) == 2, "one private folder per start of the worker"
    (worker_copy,) = [p for p in private if layouts.ModelFolder(p).weights(CONFIG.weights_filename).is_file()]
    chief_weights = _weights(folder.weights(CONFIG.weights_filename))
    worker_weights = _weights(layouts.ModelFolder(worker_copy).weights(CONFIG.weights_filename))
    assert chief_weights.keys() == worker_weights.keys() and len(chief_weights) > 50
    assert all(np.array_equal(chief_weights[name], worker_weights[name]) for name in chief_weights)

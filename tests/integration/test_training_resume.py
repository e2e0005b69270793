"""Preemption: a training process killed mid-run and started again with the same output resumes and finishes."""

import os
import signal
import subprocess
import sys
import time

from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.examples.job import build_examples as build_tfrecords
from movinet_pipeline.core.model.training import _read_history
from tests.conftest import REPO

EPOCHS = 8
FLAGS = ["--imgz", "32", "--n-frames", "4", "--batch-size", "2", "--num-epochs", str(EPOCHS), "--conv-type",
         "2plus1d", "--norm-momentum", "0.9", "--pretrained", "none"]


def _train(examples, output):
    return subprocess.Popen([sys.executable, "-m", "movinet_pipeline.app.cli", "train", "--examples", str(examples),
                             "--output", str(output), *FLAGS], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_killed_training_resumes_from_its_checkpoint_and_finishes(exported_dir, tmp_path):
    examples = tmp_path / "examples"
    build_tfrecords(exported_dir, examples, PipelineConfig(imgz=32, n_frames=4), ["--direct_running_mode=in_memory"])
    output = tmp_path / "model"
    history_csv = output / "checkpoints" / "history.csv"

    first = _train(examples, output)
    deadline = time.monotonic() + 600
    while len(_read_history(history_csv).get("epoch", [])) < 3:
        assert first.poll() is None, first.stdout.read()
        assert time.monotonic() < deadline, "training made no progress"
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # as a preempted node would
    first.wait()
    interrupted_after = len(_read_history(history_csv)["epoch"])
    assert interrupted_after < EPOCHS and not (output / "saved_model").exists()

    second = _train(examples, output)
    log, _ = second.communicate(timeout=600)
    assert second.returncode == 0, log[-3000:]
    assert f"resuming after epoch {interrupted_after} of {EPOCHS}" in log
    assert f"epoch 1/{EPOCHS} " not in log  # the restarted process did not start over
    history = _read_history(history_csv)
    assert history["epoch"] == list(range(EPOCHS))
    assert (output / "saved_model" / "saved_model.pb").exists() and (output / "model.weights.h5").exists()

"""Preemption: a training process killed mid-run and started again with the same output resumes and finishes."""

import json
import os
import re
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


def _train(examples, output, backup_steps):
    command = [sys.executable, "-m", "movinet_pipeline.app.cli", "train", "--examples", str(examples), "--output",
               str(output), *FLAGS, "--backup-steps", str(backup_steps)]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def test_killed_training_resumes_from_its_checkpoint_and_finishes(exported_dir, tmp_path):
    examples = tmp_path / "examples"
    build_tfrecords(exported_dir, examples, PipelineConfig(imgz=32, n_frames=4), ["--direct_running_mode=in_memory"])
    output = tmp_path / "model"
    history_csv = output / "checkpoints" / "history.csv"

    train_clips = sum(json.loads((examples / "stats.json").read_text())["clips_per_subset_label"]["train"].values())
    backup_steps = 2 * -(-train_clips // 2)  # two epochs of batch 2: a backup after every second epoch
    first = _train(examples, output, backup_steps)
    deadline = time.monotonic() + 600
    while len(_read_history(history_csv).get("epoch", [])) < 3:
        assert first.poll() is None, first.stdout.read()
        assert time.monotonic() < deadline, "training made no progress"
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # as a preempted node would
    first.wait()
    interrupted_after = len(_read_history(history_csv)["epoch"])
    assert interrupted_after < EPOCHS and not (output / "saved_model").exists()

    second = _train(examples, output, backup_steps)
    log, _ = second.communicate(timeout=600)
    assert second.returncode == 0, log[-3000:]
    resumed = int(re.search(rf"resuming after epoch (\d+) of {EPOCHS}", log).group(1))
    assert resumed % 2 == 0 and interrupted_after - 2 < resumed <= interrupted_after, "from the last backup"
    assert f"epoch 1/{EPOCHS} " not in log  # the restarted process did not start over
    history = _read_history(history_csv)
    assert history["epoch"] == list(range(EPOCHS))
    assert (output / "saved_model" / "saved_model.pb").exists() and (output / "model.weights.h5").exists()

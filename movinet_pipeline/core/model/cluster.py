"""Where this trainer sits in a training cluster, from `TF_CONFIG` (Kubeflow's TFJob, Vertex AI) or `CLUSTER_SPEC`.

One process per machine: `MultiWorkerMirroredStrategy` over every worker's devices when the cluster has more than
one worker (chief included), else `MirroredStrategy` over this machine's GPUs when it has several, else TensorFlow's
default strategy (one device; `MirroredStrategy` there made every training step ~1.4x slower on this CPU). Only the
chief writes where the user asked; every other worker writes its copies (which the collective saves make it produce
too) into a private temporary folder, as Model Garden's trainers do.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
TRAINING_TASKS = ("chief", "worker")  # the task types that train (not "ps" or "evaluator")
VERTEX_POOLS = ("chief", "worker", "ps", "evaluator")  # Vertex AI's workerpool0..3, in TF_CONFIG's names


class ClusterError(RuntimeError):
    """The cluster description cannot be used; the message says which variable and why."""


@dataclass(frozen=True)
class Cluster:
    """This process's place: how many training workers there are, and which one this is."""

    workers: int = 1
    task_type: str = "chief"
    task_index: int = 0
    has_chief: bool = True  # whether the cluster names a chief (else worker 0 is the chief, as TensorFlow's rule)

    @property
    def is_chief(self) -> bool:
        """The worker that writes the outputs (the `chief`, or `worker` 0 when the cluster names no chief)."""
        return self.task_type == "chief" or (not self.has_chief and self.task_type == "worker"
                                             and self.task_index == 0)

    @property
    def is_multi_worker(self) -> bool:
        """Whether training spans more than one worker process."""
        return self.workers > 1

    def strategy(self):
        """The tf.distribute strategy; create it before any other TensorFlow op of the process."""
        import tensorflow as tf

        if self.is_multi_worker:
            return tf.distribute.MultiWorkerMirroredStrategy()
        if len(tf.config.list_physical_devices("GPU")) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()  # one device: mirroring would cost per step and buy nothing

    def output_root(self, requested: str | Path) -> Path:
        """Where this worker writes: the requested folder on the chief, else a private temporary folder."""
        if self.is_chief:
            return Path(requested)
        private = Path(tempfile.mkdtemp(prefix=f"movinet-{self.task_type}-{self.task_index}-"))
        log.info("%s %d is not the chief: its outputs go to the private folder %s, not %s", self.task_type,
                 self.task_index, private, requested)
        return private


def from_environment(environ: Mapping[str, str] | None = None) -> Cluster:
    """The cluster named by `TF_CONFIG`, else by Vertex AI's `CLUSTER_SPEC` (then also set as `TF_CONFIG`)."""
    environ = os.environ if environ is None else environ
    if environ.get("TF_CONFIG"):
        return _parse(environ["TF_CONFIG"], "TF_CONFIG")
    if environ.get("CLUSTER_SPEC"):
        tf_config = vertex_tf_config(environ["CLUSTER_SPEC"])
        if environ is os.environ:
            os.environ["TF_CONFIG"] = tf_config  # what MultiWorkerMirroredStrategy reads
        return _parse(tf_config, "CLUSTER_SPEC")
    return Cluster()


def vertex_tf_config(cluster_spec: str) -> str:
    """Vertex AI's CLUSTER_SPEC (workerpool0..3) as TF_CONFIG (chief, worker, ps, evaluator)."""
    spec = _load(cluster_spec, "CLUSTER_SPEC")
    try:
        cluster = {VERTEX_POOLS[int(pool.removeprefix("workerpool"))]: hosts
                   for pool, hosts in spec["cluster"].items() if hosts}
        task = {"type": VERTEX_POOLS[int(spec["task"]["type"].removeprefix("workerpool"))],
                "index": int(spec["task"]["index"])}
    except (KeyError, ValueError, IndexError, AttributeError) as error:
        raise ClusterError(f"CLUSTER_SPEC is not a Vertex AI cluster spec ({error!r}): {cluster_spec[:200]}") from None
    return json.dumps({"cluster": cluster, "task": task})


def _load(text: str, name: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ClusterError(f"{name} is not valid JSON ({error.msg}): {text[:200]}") from None
    if not isinstance(value, dict):
        raise ClusterError(f"{name} must be a JSON object, got {text[:200]}")
    return value


def _parse(text: str, name: str) -> Cluster:
    config = _load(text, name)
    cluster, task = config.get("cluster") or {}, config.get("task") or {}
    workers = sum(len(cluster.get(kind) or []) for kind in TRAINING_TASKS)
    task_type, task_index = task.get("type"), task.get("index", 0)
    if not workers:
        return Cluster()
    if task_type not in TRAINING_TASKS:
        raise ClusterError(f"{name}: task type {task_type!r} does not train; this trainer runs as chief or worker "
                           "(parameter servers and evaluators are not used)")
    if not isinstance(task_index, int) or not 0 <= task_index < len(cluster.get(task_type) or []):
        raise ClusterError(f"{name}: task index {task_index!r} is not among the {len(cluster.get(task_type) or [])} "
                           f"{task_type} address(es)")
    return Cluster(workers, task_type, task_index, has_chief=bool(cluster.get("chief")))

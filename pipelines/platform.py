"""How each step runs on a cluster: resources, timeouts, retries on network steps, the Dataloop secret, and GPUs.

One place for these, so the training and sweep pipelines cannot drift apart. Everything but the accelerators is
also accepted by `kfp.local` (which ignores what has no local meaning). Accelerators are compile-time settings per
target: kfp 2.17's local runner cannot resolve an accelerator type or count given as a pipeline parameter, and
Kubeflow on GKE and Vertex AI name GPUs differently, so `compile --target` applies them (see TARGETS).
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import Iterator

from kfp import kubernetes
from kfp.dsl import PipelineTask

DATALOOP_SECRET_KEYS = {"api-key": "DATALOOP_API_KEY", "m2m-email": "DATALOOP_M2M_EMAIL",
                        "m2m-password": "DATALOOP_M2M_PASSWORD", "env": "DATALOOP_ENV"}


@dataclass(frozen=True)
class StepResources:
    cpu: str
    memory: str
    timeout_s: int
    retries: int = 0  # steps that talk to Dataloop retry with exponential backoff


STEPS = {
    "make_config": StepResources("0.5", "1G", 10 * 60),
    "dataset_fingerprint": StepResources("0.5", "1G", 30 * 60, retries=3),
    "export_dataset": StepResources("2", "4G", 6 * 3600, retries=3),
    "build_tfrecords": StepResources("4", "8G", 12 * 3600),  # the Beam driver (DirectRunner) or Dataflow launcher
    "train": StepResources("8", "32G", 48 * 3600),
    "evaluate": StepResources("4", "16G", 6 * 3600),
    "select_best": StepResources("1", "2G", 30 * 60),
    "register_model": StepResources("1", "4G", 2 * 3600, retries=3),
}


GPU_STEPS = ("train", "evaluate")


@dataclass(frozen=True)
class Accelerators:
    """GPUs for the train and evaluate steps, as the target platform names them."""

    type: str
    count: int = 1
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class Target:
    """Where a compiled pipeline runs: its GPUs, and whether Kubernetes settings (secrets, timeouts, node
    placement) apply. Vertex AI has no Kubernetes platform spec (its job template must be a single YAML document)."""

    name: str
    accelerators: Accelerators | None
    kubernetes: bool


TARGETS = {
    # Kubeflow on GKE: a `nvidia.com/gpu` limit, a node selector for the GPU node pool, the GPU taint tolerated.
    "kubeflow": Target("kubeflow", Accelerators(
        "nvidia.com/gpu", 1, {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"},
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)), kubernetes=True),
    # Vertex AI Pipelines: the accelerator type by Vertex's name; Vertex places the task on a matching machine.
    "vertex": Target("vertex", Accelerators("NVIDIA_TESLA_T4", 1), kubernetes=False),
}
LOCAL = Target("local", None, kubernetes=True)  # kfp.local ignores the Kubernetes settings; no accelerators
_TARGET: contextvars.ContextVar[Target] = contextvars.ContextVar("target", default=LOCAL)


@contextlib.contextmanager
def building_for(target: Target) -> Iterator[None]:
    """Pipelines built inside this block are configured for `target`."""
    token = _TARGET.set(target)
    try:
        yield
    finally:
        _TARGET.reset(token)


def _on_gpu(task: PipelineTask, settings: Accelerators, with_kubernetes: bool) -> None:
    task.set_accelerator_type(settings.type).set_accelerator_limit(settings.count)
    if with_kubernetes:
        for key, value in settings.node_selector.items():
            kubernetes.add_node_selector(task, label_key=key, label_value=value)
        for toleration in settings.tolerations:
            kubernetes.add_toleration(task, **toleration)


def configure(task: PipelineTask, step: str, dataloop_secret=None) -> PipelineTask:
    """Requests/limits and (for network steps) retries; on Kubernetes targets a timeout and, with
    `dataloop_secret` (a secret name, possibly a pipeline parameter), the Dataloop credentials as environment
    variables (optional, so a run without Dataloop needs no secret); GPUs for the GPU steps."""
    target, resources = _TARGET.get(), STEPS[step]
    task.set_cpu_request(resources.cpu).set_cpu_limit(resources.cpu)
    task.set_memory_request(resources.memory).set_memory_limit(resources.memory)
    if resources.retries:
        task.set_retry(num_retries=resources.retries, backoff_duration="30s", backoff_factor=2.0,
                       backoff_max_duration="600s")
    if step in GPU_STEPS and target.accelerators is not None:
        _on_gpu(task, target.accelerators, target.kubernetes)
    if target.kubernetes:
        kubernetes.set_timeout(task, resources.timeout_s)
        if dataloop_secret is not None:
            kubernetes.use_secret_as_env(task, secret_name=dataloop_secret, secret_key_to_env=DATALOOP_SECRET_KEYS,
                                         optional=True)
    return task

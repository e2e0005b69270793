"""How each step runs on a cluster: resources, timeouts, retries on network steps, the Dataloop secret, and GPUs.

One place for these, so the training and sweep pipelines cannot drift apart. Everything but the accelerators is
also accepted by `kfp.local` (which ignores what has no local meaning). The GPU placement is three pipeline parameters
(`accelerator_type`, `accelerator_count`, `gpu_node_selector`) whose defaults come from the compile target
(Kubeflow on GKE and Vertex AI name GPUs differently, see TARGETS); kfp 2.17's local runner cannot
resolve an accelerator given as a parameter, so local builds leave them unapplied.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kfp import kubernetes
from kfp.dsl import PipelineTask

from movinet_pipeline.core.clients.dataloop import CREDENTIAL_KEYS
from movinet_pipeline.core.images import image
from movinet_pipeline.core.step_runtime import TIMEOUT_VARIABLE


@dataclass(frozen=True)
class StepResources:
    """A step's CPU, memory, timeout and retries on a cluster."""
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
    "resolve_baseline": StepResources("1", "4G", 2 * 3600, retries=3),
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
    """Where a compiled pipeline runs.

    Where a compiled pipeline runs: its GPUs, and whether Kubernetes settings (secrets, timeouts, node
    placement) apply. Vertex AI has no Kubernetes platform spec (its job template must be a single YAML document).
    """

    name: str
    accelerators: Accelerators | None
    kubernetes: bool
    step_retries: bool = True  # KFP retries of the network steps (their transient errors are retried inside too)


TARGETS = {
    # Kubeflow on GKE: a `nvidia.com/gpu` limit, a node selector for the GPU node pool, the GPU taint tolerated.
    "kubeflow": Target("kubeflow", Accelerators(
        "nvidia.com/gpu", 1, {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"},
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)), kubernetes=True),
    # Vertex AI Pipelines: the accelerator type by Vertex's name; Vertex places the task on a matching machine.
    "vertex": Target("vertex", Accelerators("NVIDIA_TESLA_T4", 1), kubernetes=False),
}
# kfp.local ignores the Kubernetes settings; no accelerators; no step retries: a local run reports a failure at once
# (kfp.local would wait out the cluster backoff, minutes, before repeating a step that failed for good).
LOCAL = Target("local", None, kubernetes=True, step_retries=False)
_TARGET: contextvars.ContextVar[Target] = contextvars.ContextVar("target", default=LOCAL)


@contextlib.contextmanager
def building_for(target: Target) -> Iterator[None]:
    """Pipelines built inside this block are configured for `target`."""
    token = _TARGET.set(target)
    try:
        yield
    finally:
        _TARGET.reset(token)


@dataclass(frozen=True)
class GpuParameters:
    """The pipeline parameters that place the GPU steps (channels at build time)."""

    type: object
    count: object
    node_selector: object


# Vertex AI resolves these in a task's inputs (as google-cloud-pipeline-components' placeholders do).
VERTEX_PROJECT_PLACEHOLDER = "{{$.pipeline_google_cloud_project_id}}"
VERTEX_LOCATION_PLACEHOLDER = "{{$.pipeline_google_cloud_location}}"


def vertex_location() -> dict[str, str]:
    """The project and location inputs of a step that calls Vertex AI itself: placeholders on Vertex, else ""."""
    if _TARGET.get().name != "vertex":
        return {"project": "", "location": ""}
    return {"project": VERTEX_PROJECT_PLACEHOLDER, "location": VERTEX_LOCATION_PLACEHOLDER}


def with_target_defaults(steps: Callable, target: Target) -> Callable:
    """`steps` with its GPU parameters' defaults set to `target`'s (KFP reads defaults from the signature)."""
    defaults = {"accelerator_type": target.accelerators.type, "accelerator_count": target.accelerators.count,
                "gpu_node_selector": dict(target.accelerators.node_selector)}
    signature = inspect.signature(steps)

    @functools.wraps(steps)
    def wrapper(*args, **kwargs):
        return steps(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[
        p.replace(default=defaults[p.name]) if p.name in defaults else p for p in signature.parameters.values()])
    return wrapper


def _on_gpu(task: PipelineTask, gpu: GpuParameters, settings: Accelerators, with_kubernetes: bool) -> None:
    task.set_accelerator_type(gpu.type).set_accelerator_limit(gpu.count)
    if with_kubernetes:
        kubernetes.add_node_selector_json(task, node_selector_json=gpu.node_selector)
        for toleration in settings.tolerations:  # fixed, not a parameter: a multi-key dict default would make the
            kubernetes.add_toleration(task, **toleration)  # compiled YAML's key order vary between runs


def configure(task: PipelineTask, step: str, dataloop_secret=None, gpu: GpuParameters | None = None) -> PipelineTask:
    """Set a task's resources, retries, timeout, secret and GPUs for the build target.

    Requests/limits and (for network steps) retries; on every target the step's own deadline
    (`step_runtime.TIMEOUT_VARIABLE`, the only timeout Vertex AI gets); on Kubernetes targets a pod timeout and, with
    `dataloop_secret` (a secret name, possibly a pipeline parameter), the Dataloop credentials as environment
    variables (optional, so a run without Dataloop needs no secret); for the GPU steps on a cluster target, the
    accelerator from the `gpu` pipeline parameters (kfp.local cannot resolve those, and has no GPUs to give).
    """
    target, resources = _TARGET.get(), STEPS[step]
    task.set_cpu_request(resources.cpu).set_cpu_limit(resources.cpu)
    task.set_memory_request(resources.memory).set_memory_limit(resources.memory)
    if resources.retries and target.step_retries:
        task.set_retry(num_retries=resources.retries, backoff_duration="30s", backoff_factor=2.0,
                       backoff_max_duration="600s")
    if step in GPU_STEPS and gpu is not None and target.accelerators is not None:
        _on_gpu(task, gpu, target.accelerators, target.kubernetes)
    elif step in GPU_STEPS:  # no GPU to give (local runs): the CPU variant of the trainer image
        task.set_container_image(image("trainer-cpu"))
    task.set_env_variable(TIMEOUT_VARIABLE, str(resources.timeout_s))  # the step's own deadline: every target
    if target.kubernetes:
        kubernetes.set_timeout(task, resources.timeout_s)
        if dataloop_secret is not None:
            kubernetes.use_secret_as_env(task, secret_name=dataloop_secret, secret_key_to_env=CREDENTIAL_KEYS,
                                         optional=True)
    return task

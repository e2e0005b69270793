"""How each step runs on a cluster: resources, timeouts, retries on network steps, and the Dataloop secret.

One place for these, so the training and sweep pipelines cannot drift apart. Everything here is also accepted by
`kfp.local` (which ignores what has no local meaning), so the same pipeline definition runs locally.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def configure(task: PipelineTask, step: str, dataloop_secret=None) -> PipelineTask:
    """Requests/limits, a timeout and (for network steps) retries; with `dataloop_secret` (a Kubernetes secret name,
    possibly a pipeline parameter), the Dataloop credentials as environment variables. The secret is optional, so a
    run without Dataloop (local folders, local registry) needs none."""
    resources = STEPS[step]
    task.set_cpu_request(resources.cpu).set_cpu_limit(resources.cpu)
    task.set_memory_request(resources.memory).set_memory_limit(resources.memory)
    kubernetes.set_timeout(task, resources.timeout_s)
    if resources.retries:
        task.set_retry(num_retries=resources.retries, backoff_duration="30s", backoff_factor=2.0,
                       backoff_max_duration="600s")
    if dataloop_secret is not None:
        kubernetes.use_secret_as_env(task, secret_name=dataloop_secret, secret_key_to_env=DATALOOP_SECRET_KEYS,
                                     optional=True)
    return task

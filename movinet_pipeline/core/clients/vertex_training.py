"""Multi-worker training as a Vertex AI custom job, launched and awaited from the pipeline's train step.

Vertex AI runs a custom job's replicas with `TF_CONFIG` and `CLUSTER_SPEC` set (workerpool0 is the chief), so the
trainer needs no change: each replica runs `movinet-pipeline train` on the step's artifacts, which every replica
reaches through Vertex's Cloud Storage FUSE mount (`gs://b/p` is `/gcs/b/p`). Launched with the aiplatform SDK we
already pin (2.7): google-cloud-pipeline-components' CustomTrainingJobOp would need google-cloud-aiplatform < 2.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)
FUSE_ROOT = "/gcs"
ENDPOINT_VARIABLE = "MOVINET_VERTEX_ENDPOINT"  # a private (or test) Vertex AI API endpoint; unset: Google's


class VertexTrainingError(RuntimeError):
    """The custom job cannot be launched or did not succeed; the message says why."""


@dataclass(frozen=True)
class WorkerPools:
    """The machines of a multi-worker training job: `replicas` workers (one chief), each with its GPUs."""

    replicas: int
    machine_type: str
    accelerator_type: str = ""
    accelerator_count: int = 0

    def specs(self, image: str, args: list[str]) -> list[dict]:
        """Vertex AI worker pool specs: workerpool0 the chief, workerpool1 the other replicas."""
        machine = {"machine_type": self.machine_type}
        if self.accelerator_type and self.accelerator_count:
            machine.update(accelerator_type=self.accelerator_type, accelerator_count=self.accelerator_count)
        pool = {"machine_spec": machine,
                "container_spec": {"image_uri": image, "command": ["movinet-pipeline"], "args": args}}
        return [{**pool, "replica_count": 1}, {**pool, "replica_count": self.replicas - 1}]


def fuse_path(uri: str) -> str:
    """A gs:// URI as the path where Vertex AI mounts it in a job's containers."""
    if not uri.startswith("gs://"):
        raise VertexTrainingError(f"a Vertex AI custom job reaches artifacts on Cloud Storage only, not {uri!r}: run "
                                  "the pipeline on Vertex AI (a gs:// pipeline root)")
    return f"{FUSE_ROOT}/{uri.removeprefix('gs://')}"


def run_training_job(project: str, location: str, display_name: str, pools: WorkerPools, image: str,
                     examples_uri: str, model_uri: str, config_uri: str, endpoint: str | None = None,
                     service_account: str | None = None) -> str:
    """Run `movinet-pipeline train` on `pools` as a custom job and wait for it; return the job's resource name."""
    if pools.replicas < 2:
        raise VertexTrainingError(f"a multi-worker job needs train_replicas >= 2, got {pools.replicas}")
    if not project or not location or "{{" in project + location:
        raise VertexTrainingError("train_replicas > 1 runs a Vertex AI custom job, which needs the pipeline to run "
                                  "on Vertex AI (its project and location); on Kubeflow, run the trainer as a TFJob "
                                  f"(it reads TF_CONFIG); got project={project!r}, location={location!r}")
    from google.cloud import aiplatform

    args = ["train", "--examples", fuse_path(examples_uri), "--output", fuse_path(model_uri),
            "--config", fuse_path(config_uri)]
    _init(project, location, endpoint)
    bucket = "gs://" + model_uri.removeprefix("gs://").split("/", 1)[0]
    job = aiplatform.CustomJob(display_name=display_name, worker_pool_specs=pools.specs(image, args),
                               base_output_dir=f"{model_uri}-job", staging_bucket=bucket)
    log.info("training on %d replicas (%s, %s x %d each) as Vertex AI custom job %r", pools.replicas,
             pools.machine_type, pools.accelerator_type or "no GPU", pools.accelerator_count, display_name)
    try:
        job.run(service_account=service_account, sync=True)
    except RuntimeError as error:
        reason = " ".join(str(error).split())  # the SDK's message spans lines
        raise VertexTrainingError(f"Vertex AI custom job {display_name!r} did not succeed: {reason}") from None
    log.info("custom job %s succeeded", job.resource_name)
    return job.resource_name


def _init(project: str, location: str, endpoint: str | None) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    local = bool(endpoint and endpoint.startswith("http://"))  # a test server: no Google credentials
    aiplatform.init(project=project, location=location, api_endpoint=endpoint,
                    api_transport="rest" if endpoint else None, credentials=AnonymousCredentials() if local else None)

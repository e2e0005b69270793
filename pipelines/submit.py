"""Submit or schedule a compiled pipeline on a Kubeflow Pipelines host (the KFP v2 REST API via `kfp.Client`).

Parameters are checked against the compiled pipeline's own input definitions (names and types) before anything is
sent; configuration keys that are not pipeline parameters (e.g. `conv_type`) go into `extra_config`. The KFP
bearer token comes from the environment (`KFP_TOKEN`), never from a flag.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from movinet_pipeline.core import parameters
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.pipelines.compile import read_compiled

log = logging.getLogger(__name__)
FINISHED_OK = "succeeded"
_CASTS = {"NUMBER_INTEGER": int, "NUMBER_DOUBLE": float, "STRING": str,
          "BOOLEAN": lambda v: v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes"),
          "STRUCT": lambda v: json.loads(v) if isinstance(v, str) else dict(v),
          "LIST": lambda v: json.loads(v) if isinstance(v, str) else list(v)}


class SubmitError(RuntimeError):
    """The pipeline cannot be submitted as asked; the message names the parameter or setting."""


@dataclass(frozen=True)
class Submission:
    """What was created: ids, and the final state when waited for."""
    pipeline_id: str
    version_id: str
    experiment_id: str
    run_id: str | None = None
    recurring_run_id: str | None = None
    state: str | None = None


def pipeline_parameters(package: Path) -> dict[str, str]:
    """The compiled pipeline's parameters: name -> KFP parameter type."""
    spec, _ = read_compiled(package)
    return {name: p["parameterType"] for name, p in spec["root"]["inputDefinitions"]["parameters"].items()}


def resolve_parameters(package: Path, values: dict[str, Any]) -> dict[str, Any]:
    """Cast run parameters to the compiled pipeline's types.

    Cast `values` to the pipeline's parameter types; configuration keys that are not parameters join
    `extra_config`. Unknown names fail, naming them.
    """
    declared = pipeline_parameters(package)
    config_keys = {f.name for f in dataclasses.fields(PipelineConfig)}
    resolved: dict[str, Any] = {}
    extra = json.loads(str(values.get("extra_config") or "{}"))
    for name, value in values.items():
        if name == "extra_config":
            continue
        if name in declared:
            try:
                resolved[name] = _CASTS[declared[name]](value)
            except (TypeError, ValueError):
                raise SubmitError(f"parameter {name}={value!r} is not a {declared[name].lower()}") from None
        elif name in config_keys:
            extra[name] = value
        else:
            raise SubmitError(f"unknown parameter {name!r}; the pipeline takes: {', '.join(sorted(declared))}")
    if extra:
        PipelineConfig(**{k: v for k, v in extra.items()})  # fails fast, naming a bad key or value
        resolved["extra_config"] = json.dumps(extra, sort_keys=True)
    missing = [p.name for p in (*parameters.TRAINING, *parameters.SWEEP)
               if p.default is parameters.REQUIRED and p.name in declared and p.name not in resolved]
    if missing:
        raise SubmitError(f"missing required parameter(s): {', '.join(missing)}")
    return resolved


def cron_6_fields(expression: str) -> str:
    """KFP's cron has a seconds field: accept the usual 5-field form too."""
    fields = expression.split()
    if len(fields) == 5:
        return "0 " + expression.strip()
    if len(fields) == 6:
        return expression.strip()
    raise SubmitError(f"cron {expression!r} must have 5 fields (min hour day month weekday) or 6 (with seconds)")


def _client(host: str, namespace: str | None):
    import kfp

    return kfp.Client(host=host, existing_token=os.environ.get("KFP_TOKEN") or None,
                      namespace=namespace or "kubeflow")


def _upload(client, package: Path, pipeline_name: str, version_name: str | None) -> tuple[str, str]:
    """Upload `package` as a new version of `pipeline_name` (creating the pipeline first if needed)."""
    version_name = version_name or f"{pipeline_name}-{hashlib.sha256(package.read_bytes()).hexdigest()[:12]}"
    pipeline_id = client.get_pipeline_id(pipeline_name)
    if pipeline_id is None:
        pipeline_id = client.upload_pipeline(str(package), pipeline_name=pipeline_name).pipeline_id
        log.info("created pipeline %s (%s)", pipeline_name, pipeline_id)
    same_name = json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name",
                                            "string_value": version_name}]})
    existing = client.list_pipeline_versions(pipeline_id, filter=same_name).pipeline_versions or []
    if existing:  # the same content was uploaded before (names carry the content hash): reuse it
        log.info("pipeline version %s exists (%s): reusing it", version_name, existing[0].pipeline_version_id)
        return pipeline_id, existing[0].pipeline_version_id
    version = client.upload_pipeline_version(str(package), pipeline_version_name=version_name,
                                             pipeline_id=pipeline_id)
    log.info("uploaded pipeline version %s (%s)", version_name, version.pipeline_version_id)
    return pipeline_id, version.pipeline_version_id


def submit(host: str, package: str | Path, parameters: dict[str, Any], run_name: str,
           experiment: str = "movinet", pipeline_name: str = "movinet-training", version_name: str | None = None,
           namespace: str | None = None, wait: bool = False, timeout_s: float = 24 * 3600,
           poll_s: float = 10.0) -> Submission:
    """Upload the pipeline version and create a run; with `wait`, block until it finishes."""
    package = Path(package)
    resolved = resolve_parameters(package, parameters)
    client = _client(host, namespace)
    pipeline_id, version_id = _upload(client, package, pipeline_name, version_name)
    experiment_id = client.create_experiment(experiment, namespace=namespace).experiment_id
    run = client.run_pipeline(experiment_id=experiment_id, job_name=run_name, params=resolved,
                              pipeline_id=pipeline_id, version_id=version_id)
    log.info("created run %s (%s) in experiment %s on %s", run_name, run.run_id, experiment, host)
    state = None
    if wait:
        state = client.wait_for_run_completion(run.run_id, timeout=timeout_s, sleep_duration=poll_s).state
        log.info("run %s finished: %s", run.run_id, state)
    return Submission(pipeline_id, version_id, experiment_id, run_id=run.run_id, state=state)


def schedule(host: str, package: str | Path, parameters: dict[str, Any], name: str, cron: str,
             experiment: str = "movinet", pipeline_name: str = "movinet-training", version_name: str | None = None,
             namespace: str | None = None, max_concurrency: int = 1) -> Submission:
    """Upload the pipeline version and create a recurring run on `cron` (no catch-up of missed runs)."""
    package = Path(package)
    resolved = resolve_parameters(package, parameters)
    cron = cron_6_fields(cron)
    client = _client(host, namespace)
    pipeline_id, version_id = _upload(client, package, pipeline_name, version_name)
    experiment_id = client.create_experiment(experiment, namespace=namespace).experiment_id
    recurring = client.create_recurring_run(experiment_id=experiment_id, job_name=name, cron_expression=cron,
                                            params=resolved, pipeline_id=pipeline_id, version_id=version_id,
                                            max_concurrency=max_concurrency, no_catchup=True, enabled=True)
    log.info("scheduled %s (%s) on cron %r in experiment %s", name, recurring.recurring_run_id, cron, experiment)
    return Submission(pipeline_id, version_id, experiment_id, recurring_run_id=recurring.recurring_run_id)


@dataclass(frozen=True)
class VertexTarget:
    """A Vertex AI Pipelines location.

    `endpoint` overrides the API endpoint (a private endpoint, or a local test server: an http:// endpoint is
    called without Google credentials).
    """

    project: str
    region: str
    pipeline_root: str
    service_account: str | None = None
    endpoint: str | None = None


def _vertex_init(target: VertexTarget) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    local = bool(target.endpoint and target.endpoint.startswith("http://"))
    aiplatform.init(project=target.project, location=target.region, api_endpoint=target.endpoint,
                    api_transport="rest" if target.endpoint else None,
                    credentials=AnonymousCredentials() if local else None)


def _vertex_job(target: VertexTarget, package: Path, parameters: dict[str, Any], run_name: str):
    from google.cloud import aiplatform

    _vertex_init(target)
    return aiplatform.PipelineJob(display_name=run_name, template_path=str(package),
                                  pipeline_root=target.pipeline_root,
                                  parameter_values=resolve_parameters(package, parameters), enable_caching=True)


def submit_vertex(target: VertexTarget, package: str | Path, parameters: dict[str, Any], run_name: str,
                  wait: bool = False) -> Submission:
    """Create a Vertex AI PipelineJob from the compiled (`--target vertex`) template; with `wait`, block."""
    package = Path(package)
    job = _vertex_job(target, package, parameters, run_name)
    job.submit(service_account=target.service_account)
    log.info("created Vertex pipeline job %s in %s/%s", job.resource_name, target.project, target.region)
    state = None
    if wait:
        job.wait()
        state = job.state.name.removeprefix("PIPELINE_STATE_")
    return Submission("", "", "", run_id=job.resource_name, state=state)


def schedule_vertex(target: VertexTarget, package: str | Path, parameters: dict[str, Any], name: str, cron: str,
                    max_concurrency: int = 1) -> Submission:
    """Create a Vertex AI pipeline job schedule (standard 5-field cron)."""
    from google.cloud import aiplatform

    package = Path(package)
    fields = cron.split()
    if len(fields) != 5:
        raise SubmitError(f"Vertex cron {cron!r} must have 5 fields (min hour day month weekday)")
    job = _vertex_job(target, package, parameters, name)
    schedule = aiplatform.PipelineJobSchedule(pipeline_job=job, display_name=name)
    schedule.create(cron=cron, max_concurrent_run_count=max_concurrency, service_account=target.service_account)
    log.info("created Vertex schedule %s on cron %r", schedule.resource_name, cron)
    return Submission("", "", "", recurring_run_id=schedule.resource_name)

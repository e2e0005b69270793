"""The request bodies the KFP v2beta1 and Vertex AI Pipelines REST APIs accept: required fields, types, and no
unknown field (both reject an unknown name with 400, as grpc-gateway's and Google's JSON parsers do).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# A field's rule: a type, a nested schema (`fields`), or a function returning an error or None.
Rule = type | dict | Callable[[object], str | None]


def schema(required: dict[str, Rule], optional: dict[str, Rule] | None = None,
           one_of: tuple[str, ...] = ()) -> dict:
    """A message schema: required fields, optional ones, and a group of which exactly one must be set."""
    return {"required": required, "optional": optional or {}, "one_of": one_of}


def int64(value: object) -> str | None:
    """Protobuf JSON int64: a number or a decimal string."""
    ok = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())
    return None if ok else f"{value!r} is not an int64"


def matching(pattern: str, what: str) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        return None if isinstance(value, str) and re.fullmatch(pattern, value) else f"{value!r} is not {what}"
    return check


def one_of_values(*allowed: str) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        return None if value in allowed else f"{value!r} is not one of {list(allowed)}"
    return check


def labels(value: object) -> str | None:
    """Vertex labels: lowercase keys and values, at most 63 characters."""
    if not isinstance(value, dict):
        return "labels must be a map"
    for key, item in value.items():
        if not (re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key) and re.fullmatch(r"[a-z0-9_-]{0,63}", str(item))):
            return f"label {key!r}: {item!r} is not a valid label"
    return None


def violations(body: object, rules: dict, where: str = "") -> list[str]:
    """Every way `body` breaks `rules` (empty: it conforms)."""
    if not isinstance(body, dict):
        return [f"{where or 'body'} must be a JSON object"]
    found = [f"missing required field {where}{name}" for name in rules["required"] if name not in body]
    allowed = {**rules["required"], **rules["optional"]}
    found += [f"unknown field {where}{name}" for name in body if name not in allowed]
    if rules["one_of"] and sum(name in body for name in rules["one_of"]) != 1:
        found.append(f"exactly one of {where}{{{', '.join(rules['one_of'])}}} must be set")
    for name, rule in allowed.items():
        if name not in body:
            continue
        value, path = body[name], f"{where}{name}"
        if isinstance(rule, dict):
            found += violations(value, rule, path + ".")
        elif isinstance(rule, type):
            if not isinstance(value, rule) or (rule is int and isinstance(value, bool)):
                found.append(f"{path}: {value!r} is not a {rule.__name__}")
        elif (error := rule(value)):
            found.append(f"{path}: {error}")
    return found


# -- Kubeflow Pipelines v2beta1 (backend/api/v2beta1/*.proto) -------------------------------------------------------
_VERSION_REFERENCE = schema({"pipeline_id": str}, {"pipeline_version_id": str})
_RUNTIME_CONFIG = schema({}, {"parameters": dict, "pipeline_root": str})
KFP_EXPERIMENT = schema({"display_name": str}, {"description": str, "namespace": str})
KFP_RUN = schema({"display_name": str},
                 {"experiment_id": str, "description": str, "pipeline_version_reference": _VERSION_REFERENCE,
                  "pipeline_spec": dict, "runtime_config": _RUNTIME_CONFIG, "service_account": str,
                  "recurring_run_id": str},
                 one_of=("pipeline_version_reference", "pipeline_spec"))
KFP_RECURRING_RUN = schema(
    {"display_name": str, "trigger": schema({}, {"cron_schedule": schema({"cron": str}, {"start_time": str,
                                                                                          "end_time": str}),
                                                 "periodic_schedule": schema({"interval_second": int64})},
                                            one_of=("cron_schedule", "periodic_schedule")),
     "mode": one_of_values("ENABLE", "DISABLE"), "max_concurrency": int64},
    {"description": str, "pipeline_version_reference": _VERSION_REFERENCE, "pipeline_spec": dict,
     "runtime_config": _RUNTIME_CONFIG, "service_account": str, "no_catchup": bool, "experiment_id": str,
     "namespace": str},
    one_of=("pipeline_version_reference", "pipeline_spec"))

# -- Vertex AI v1 (google/cloud/aiplatform/v1/pipeline_job.proto, schedule.proto) -------------------------------
_PIPELINE_SPEC = schema({"pipelineInfo": schema({"name": str}, {"description": str, "displayName": str}),
                         "root": dict, "schemaVersion": str},
                        {"components": dict, "deploymentSpec": dict, "sdkVersion": str, "defaultPipelineRoot": str})
VERTEX_PIPELINE_JOB = schema(
    {"runtimeConfig": schema({"gcsOutputDirectory": matching(r"gs://.+", "a gs:// URI")},
                             {"parameterValues": dict, "failurePolicy": str, "inputArtifacts": dict})},
    {"displayName": matching(r".{1,128}", "1 to 128 characters"), "pipelineSpec": _PIPELINE_SPEC,
     "templateUri": str, "labels": labels, "serviceAccount": str, "network": str, "encryptionSpec": dict,
     "reservedIpRanges": list},
    one_of=("pipelineSpec", "templateUri"))
VERTEX_JOB_ID = matching(r"[a-z0-9][a-z0-9-]{0,127}", "a job id ([a-z0-9-], at most 128 characters)")
VERTEX_SCHEDULE = schema(
    {"displayName": str, "cron": str, "maxConcurrentRunCount": int64,
     "createPipelineJobRequest": schema({"parent": matching(r"projects/[^/]+/locations/[^/]+", "a location"),
                                         "pipelineJob": VERTEX_PIPELINE_JOB}, {"pipelineJobId": str})},
    {"startTime": str, "endTime": str, "maxRunCount": int64, "allowQueueing": bool})
def enum(value: object) -> str | None:
    """A proto enum in JSON: its name, or its number (the SDK asks for `enum-encoding=int`)."""
    return None if isinstance(value, (str, int)) and not isinstance(value, bool) else f"{value!r} is not an enum"


_MACHINE_SPEC = schema({"machineType": str}, {"acceleratorType": enum, "acceleratorCount": int})
VERTEX_WORKER_POOL = schema({"machineSpec": _MACHINE_SPEC, "replicaCount": int64,
                       "containerSpec": schema({"imageUri": str}, {"command": list, "args": list, "env": list})},
                      {"diskSpec": dict, "nfsMounts": list})
VERTEX_CUSTOM_JOB = schema(
    {"displayName": matching(r".{1,128}", "1 to 128 characters"),
     "jobSpec": schema({"workerPoolSpecs": list},
                       {"baseOutputDirectory": schema({"outputUriPrefix": matching(r"gs://.+", "a gs:// URI")}),
                        "serviceAccount": str, "network": str, "scheduling": dict, "enableWebAccess": bool,
                        "enableDashboardAccess": bool, "tensorboard": str, "experiment": str,
                        "experimentRun": str, "models": list, "persistentResourceId": str,
                        "reservedIpRanges": list, "protectedArtifactLocationId": str})},
    {"labels": labels, "encryptionSpec": dict})

"""The KFP and Vertex recorders reject what the real APIs reject, so the submission tests prove valid payloads."""

from __future__ import annotations

import pytest
import requests

from tests.api_recorders import API, KfpApiRecorder, VertexApiRecorder

JOB = {"displayName": "movinet-training", "runtimeConfig": {"gcsOutputDirectory": "gs://bucket/root",
                                                            "parameterValues": {"source": "dataloop://d"}},
       "pipelineSpec": {"pipelineInfo": {"name": "movinet-training"}, "root": {}, "schemaVersion": "2.1.0"}}
JOBS = "/v1/projects/p/locations/us-central1/pipelineJobs"


@pytest.fixture
def kfp():
    recorder = KfpApiRecorder().start()
    yield recorder
    recorder.stop()


@pytest.fixture
def vertex():
    recorder = VertexApiRecorder().start()
    yield recorder
    recorder.stop()


@pytest.mark.parametrize("path, body, problem", [
    ("/runs", {"pipeline_version_reference": {"pipeline_id": "p"}}, "missing required field display_name"),
    ("/runs", {"display_name": "r"}, "exactly one of {pipeline_version_reference, pipeline_spec} must be set"),
    ("/runs", {"display_name": "r", "pipeline_spec": {}, "parameters": {}}, "unknown field parameters"),
    ("/runs", {"display_name": 7, "pipeline_spec": {}}, "display_name: 7 is not a str"),
    ("/experiments", {"name": "movinet"}, "missing required field display_name"),
    ("/recurringruns", {"display_name": "nightly", "pipeline_spec": {}, "mode": "ON", "max_concurrency": "1",
                        "trigger": {"cron_schedule": {"cron": "0 0 2 * * *"}}}, "mode: 'ON' is not one of"),
    ("/recurringruns", {"display_name": "nightly", "pipeline_spec": {}, "mode": "ENABLE", "max_concurrency": "x",
                        "trigger": {}}, "exactly one of trigger.{cron_schedule, periodic_schedule}"),
])
def test_the_kfp_recorder_rejects_what_the_kfp_api_rejects(kfp, path, body, problem):
    answer = requests.post(kfp.host + API + path, json=body, timeout=10)
    assert answer.status_code == 400 and problem in answer.json()["error"]
    assert kfp.rejected and not kfp.answered


@pytest.mark.parametrize("query, body, problem", [
    ("?pipelineJobId=Movinet_Run", JOB, "pipelineJobId: 'Movinet_Run' is not a job id"),
    ("", {**JOB, "runtimeConfig": {"parameterValues": {}}}, "missing required field runtimeConfig.gcsOutputDirectory"),
    ("", {**JOB, "runtimeConfig": {"gcsOutputDirectory": "/local/root"}}, "is not a gs:// URI"),
    ("", {**JOB, "labels": {"Team": "ML"}}, "label 'Team': 'ML' is not a valid label"),
    ("", {**JOB, "timeout": "3600s"}, "unknown field timeout"),
    ("", {k: v for k, v in JOB.items() if k != "pipelineSpec"}, "exactly one of {pipelineSpec, templateUri}"),
])
def test_the_vertex_recorder_rejects_what_vertex_rejects(vertex, query, body, problem):
    answer = requests.post(vertex.host + JOBS + query, json=body, timeout=10)
    assert answer.status_code == 400 and problem in answer.json()["error"]["message"]
    assert requests.post(vertex.host + JOBS + "?pipelineJobId=movinet-run-1", json=JOB, timeout=10).ok

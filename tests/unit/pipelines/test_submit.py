"""`submit` and `schedule` through the real kfp.Client and aiplatform SDK against local servers that play the KFP
and Vertex AI APIs and record what the clients sent.
"""

from __future__ import annotations

import json

import pytest
import yaml

from movinet_pipeline.app.cli import main
from tests.api_recorders import KfpApiRecorder, VertexApiRecorder
from tests.conftest import GCS_BUCKET, REPO

PACKAGE = REPO / "pipeline.yaml"


@pytest.fixture
def kfp_api(monkeypatch):
    recorder = KfpApiRecorder().start()
    monkeypatch.setenv("KFP_TOKEN", "kfp-bearer-token-123")
    yield recorder
    recorder.stop()


def _run_parameters(recorder: KfpApiRecorder) -> dict:
    (run,) = recorder.sent("POST", "/runs")
    return run.json["runtime_config"]["parameters"]


def test_submit_uploads_the_compiled_pipeline_and_starts_a_run_with_typed_parameters(kfp_api, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"source": "dataloop://dataset-1", "model_id": "a1", "num_epochs": 5}))
    code = main(["submit", "--host", kfp_api.host, "--pipeline-file", str(PACKAGE), "--params-file", str(params),
                 "--param", "num-epochs=12", "--param", "learning_rate=0.0005", "--param", "conv_type=2plus1d",
                 "--param", "registry=dataloop://project-1", "--param", "accelerator_type=nvidia.com/gpu",
                 "--param", 'gpu_node_selector={"cloud.google.com/gke-accelerator": "nvidia-l4"}',
                 "--run-name", "ci-build-42"])
    assert code == 0
    (upload,) = kfp_api.sent("POST", "/pipelines/upload")
    assert upload.query["name"] == ["movinet-training"] and upload.files["uploadfile"] == PACKAGE.read_bytes()
    (version,) = kfp_api.sent("POST", "/pipelines/upload_version")
    parameters = _run_parameters(kfp_api)
    assert parameters["source"] == "dataloop://dataset-1" and parameters["model_id"] == "a1"
    assert parameters["num_epochs"] == 12 and parameters["learning_rate"] == 0.0005  # flags win, typed
    assert json.loads(parameters["extra_config"]) == {"conv_type": "2plus1d"}
    assert parameters["gpu_node_selector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}  # a GPU pool per run
    (run,) = kfp_api.sent("POST", "/runs")
    assert run.json["display_name"] == "ci-build-42"
    assert run.json["pipeline_version_reference"] == {"pipeline_id": version.query["pipelineid"][0],
                                                      "pipeline_version_id": kfp_api.answered["version"][-1]}
    assert all(r.headers.get("authorization") == "Bearer kfp-bearer-token-123" for r in kfp_api.requests)
    out = capsys.readouterr()
    assert "kfp-bearer-token-123" not in out.out + out.err
    assert json.loads(out.out)["run_id"] == kfp_api.answered["run"][-1]


def test_an_identical_pipeline_version_is_reused(kfp_api):
    for run_name in ("first", "second"):
        assert main(["submit", "--host", kfp_api.host, "--pipeline-file", str(PACKAGE), "--param",
                     "source=dataloop://d", "--run-name", run_name]) == 0
    assert len(kfp_api.sent("POST", "/pipelines/upload")) == 1
    assert len(kfp_api.sent("POST", "/pipelines/upload_version")) == 1
    versions = {r.json["pipeline_version_reference"]["pipeline_version_id"] for r in kfp_api.sent("POST", "/runs")}
    assert len(versions) == 1


def test_submit_wait_exits_non_zero_unless_the_run_succeeded(capsys):
    for state, expected in (("SUCCEEDED", 0), ("FAILED", 1)):
        recorder = KfpApiRecorder(final_state=state, polls_before_final=2).start()
        try:
            code = main(["submit", "--host", recorder.host, "--pipeline-file", str(PACKAGE), "--param",
                         "source=dataloop://d", "--run-name", "waiting", "--wait", "--timeout", "60",
                         "--poll-interval", "0.01"])
        finally:
            recorder.stop()
        assert code == expected, state
        assert len([r for r in recorder.requests if r.method == "GET" and "/runs/" in r.path]) == 3
    assert "finished FAILED, not succeeded" in capsys.readouterr().err


def test_schedule_creates_a_recurring_run_on_the_cron(kfp_api):
    assert main(["schedule", "--host", kfp_api.host, "--pipeline-file", str(PACKAGE), "--param",
                 "source=dataloop://d", "--param", "registry=dataloop://p", "--name", "nightly-retrain",
                 "--cron", "0 3 * * *"]) == 0
    (recurring,) = kfp_api.sent("POST", "/recurringruns")
    assert recurring.json["display_name"] == "nightly-retrain"
    assert recurring.json["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert recurring.json["max_concurrency"] == "1" or recurring.json["max_concurrency"] == 1
    assert recurring.json["no_catchup"] is True
    assert recurring.json["runtime_config"]["parameters"] == {"source": "dataloop://d", "registry": "dataloop://p"}


@pytest.mark.parametrize("command, extra, message", [
    ("submit", ["--param", "epochs=3", "--run-name", "x"], "unknown parameter 'epochs'"),
    ("submit", ["--param", "num_epochs=many", "--run-name", "x"], "num_epochs='many' is not a number_integer"),
    ("submit", ["--param", "conv_type=4d", "--run-name", "x"], "invalid conv_type='4d'"),
    ("schedule", ["--name", "n", "--cron", "daily"], "must have 5 fields"),
])
def test_bad_parameters_fail_before_anything_is_sent(kfp_api, capsys, command, extra, message):
    arguments = [command, "--host", kfp_api.host, "--pipeline-file", str(PACKAGE), "--param", "source=dataloop://d"]
    assert main(arguments + extra) == 2
    assert message in capsys.readouterr().err
    assert kfp_api.requests == []


VERTEX_PACKAGE = REPO / "pipeline-vertex.yaml"


@pytest.fixture
def vertex_api(gcs_emulator, monkeypatch):
    """The Vertex API recorder; the pipeline root's bucket lives in the local GCS emulator (the SDK checks it).

    The SDK also asks Cloud Resource Manager (gRPC, no endpoint setting) for the project number to check the bucket's
    owner; unreachable here, it would fail only after ~45 s of retries, and the SDK logs the failure and goes on.
    The unreachable service is made to fail at once, as it does then.
    """
    from google.api_core.exceptions import ServiceUnavailable
    from google.cloud import resourcemanager_v3

    def unreachable(*args, **kwargs):
        raise ServiceUnavailable("cloudresourcemanager.googleapis.com is not reachable from the tests")

    monkeypatch.setattr(resourcemanager_v3.ProjectsClient, "get_project", unreachable)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    recorder = VertexApiRecorder().start()
    yield recorder
    recorder.stop()


def _vertex_flags(recorder) -> list[str]:
    return ["--vertex-project", "my-project", "--region", "us-central1", "--pipeline-root", f"gs://{GCS_BUCKET}/runs",
            "--service-account", "trainer@my-project.iam.gserviceaccount.com", "--vertex-endpoint", recorder.host,
            "--pipeline-file", str(VERTEX_PACKAGE)]


@pytest.mark.slow
def test_submit_to_vertex_creates_a_pipeline_job_from_the_vertex_template(vertex_api, capsys):
    assert main(["submit", *_vertex_flags(vertex_api), "--param", "source=dataloop://d", "--param", "model_id=a2",
                 "--param", "num_epochs=3", "--run-name", "vertex-run", "--wait"]) == 0
    (created,) = vertex_api.sent("POST", "/projects/my-project/locations/us-central1/pipelineJobs")
    job = created.json
    assert job["displayName"] == "vertex-run" and job["serviceAccount"].startswith("trainer@")
    assert job["runtimeConfig"]["gcsOutputDirectory"] == f"gs://{GCS_BUCKET}/runs"
    assert job["runtimeConfig"]["parameterValues"] == {"source": "dataloop://d", "model_id": "a2", "num_epochs": 3}
    assert job["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]["accelerator_type"][
        "defaultValue"] == "NVIDIA_TESLA_T4"  # Vertex's GPU name, from the vertex template
    assert json.loads(capsys.readouterr().out)["state"] == "SUCCEEDED"


def test_schedule_on_vertex(vertex_api):
    assert main(["schedule", *_vertex_flags(vertex_api), "--param", "source=dataloop://d", "--name", "nightly",
                 "--cron", "0 3 * * *"]) == 0
    (created,) = vertex_api.sent("POST", "/projects/my-project/locations/us-central1/schedules")
    assert created.json["cron"] == "0 3 * * *" and created.json["displayName"] == "nightly"
    assert created.json["createPipelineJobRequest"]["pipelineJob"]["runtimeConfig"]["parameterValues"] == {
        "source": "dataloop://d"}


def test_submit_needs_a_destination(capsys):
    assert main(["submit", "--pipeline-file", str(PACKAGE), "--param", "source=x", "--run-name", "r"]) == 2
    assert "say where to submit" in capsys.readouterr().err

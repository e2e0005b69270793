"""Multi-worker training as a Vertex AI custom job, through the real aiplatform SDK against a local recorder."""

import pytest
from google.cloud.aiplatform_v1.types import AcceleratorType

from movinet_pipeline.core.clients.vertex_training import VertexTrainingError, WorkerPools, fuse_path, run_training_job
from tests.api_recorders import VertexApiRecorder

POOLS = WorkerPools(3, "n1-standard-8", "NVIDIA_TESLA_T4", 2)
IMAGE = "europe-docker.pkg.dev/p/movinet/trainer:1"
RUN = "gs://pipeline-root/runs/123/train"


def _run(recorder, **overrides):
    arguments = dict(project="my-project", location="europe-west4", display_name="movinet-train-model", pools=POOLS,
                     image=IMAGE, examples_uri=f"{RUN}/examples", model_uri=f"{RUN}/model",
                     config_uri=f"{RUN}/config", endpoint=recorder.host)
    return run_training_job(**{**arguments, **overrides})


@pytest.fixture
def recorder():
    server = VertexApiRecorder().start()
    yield server
    server.stop()


def test_the_job_has_a_chief_pool_and_a_worker_pool_running_the_trainer_on_the_mounted_artifacts(recorder):
    name = _run(recorder)
    assert recorder.rejected == []
    (created,) = recorder.sent("POST", "/projects/my-project/locations/europe-west4/customJobs")
    spec = created.json["jobSpec"]
    chief, workers = spec["workerPoolSpecs"]
    assert (int(chief["replicaCount"]), int(workers["replicaCount"])) == (1, 2)
    mounted = "/gcs/pipeline-root/runs/123/train"
    for pool in (chief, workers):
        machine = pool["machineSpec"]
        assert AcceleratorType(machine.pop("acceleratorType")).name == "NVIDIA_TESLA_T4"
        assert machine == {"machineType": "n1-standard-8", "acceleratorCount": 2}
        assert pool["containerSpec"] == {"imageUri": IMAGE, "command": ["movinet-pipeline"], "args": [
            "train", "--examples", f"{mounted}/examples", "--output", f"{mounted}/model", "--config",
            f"{mounted}/config"]}
    assert spec["baseOutputDirectory"]["outputUriPrefix"] == f"{RUN}/model-job"
    assert name == "projects/my-project/locations/europe-west4/customJobs/4242"
    assert recorder.sent("GET", "/customJobs/4242"), "the step waits for the job"


def test_a_failed_job_fails_the_step_with_vertex_ais_reason(recorder):
    recorder.custom_job_state = "JOB_STATE_FAILED"
    with pytest.raises(VertexTrainingError, match="did not succeed.*workerpool1-0 exited with a non-zero status"):
        _run(recorder)


@pytest.mark.parametrize("project, location", [("", ""), ("{{$.pipeline_google_cloud_project_id}}", "us-central1")])
def test_outside_vertex_ai_more_replicas_is_a_clear_error(recorder, project, location):
    with pytest.raises(VertexTrainingError, match="needs the pipeline to run on Vertex AI.*TFJob"):
        _run(recorder, project=project, location=location)
    assert recorder.requests == []


def test_artifacts_must_be_on_cloud_storage():
    assert fuse_path("gs://b/x/y") == "/gcs/b/x/y"
    with pytest.raises(VertexTrainingError, match="Cloud Storage only"):
        fuse_path("/tmp/local/examples")
    with pytest.raises(VertexTrainingError, match="train_replicas >= 2"):
        run_training_job("p", "l", "d", WorkerPools(1, "n1-standard-8"), IMAGE, "gs://b/e", "gs://b/m", "gs://b/c")

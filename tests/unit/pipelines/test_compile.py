"""The compiled training pipeline: fresh, byte-identical, and exposing the parameters users know."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from movinet_pipeline.core.config import SEED_KEYS, PipelineConfig
from movinet_pipeline.core.images import RUNTIMES, image
from movinet_pipeline.core.parameters import pipeline_arguments
from movinet_pipeline.pipelines.compile import (
    COMMITTED,
    compile_pipeline,
    executor_images,
    read_compiled,
    read_image_digests,
)
from tests.conftest import REPO


@pytest.mark.parametrize("name, target", sorted(COMMITTED))
def test_committed_pipeline_yaml_is_fresh(tmp_path, name, target):
    committed = COMMITTED[name, target]
    fresh = compile_pipeline(name, tmp_path / committed, target)
    assert (REPO / committed).read_bytes() == fresh.read_bytes(), f"{committed} is stale: run `make compile`"


def test_compiling_is_byte_identical_across_processes(tmp_path):
    """Another interpreter (another string-hash seed) writes the same bytes: no unordered map in the output."""
    for seed in ("1", "2"):
        subprocess.run([sys.executable, "-m", "movinet_pipeline.app.cli", "compile", "--output",
                        str(tmp_path / f"{seed}.yaml")], cwd=REPO, env={**os.environ, "PYTHONHASHSEED": seed},
                       check=True, capture_output=True, timeout=300)
    assert (tmp_path / "1.yaml").read_bytes() == (tmp_path / "2.yaml").read_bytes()


def test_pipeline_parameters_carry_the_seed_keys_with_their_defaults():
    spec = read_compiled(REPO / "pipeline.yaml")[0]
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    defaults = PipelineConfig()
    for key in SEED_KEYS:
        assert key in parameters, key
        assert parameters[key]["defaultValue"] == getattr(defaults, key), key
    assert "source" in parameters and not parameters["source"].get("isOptional")
    assert {"extra_config", "beam_options", "registry", "run_id"} <= set(parameters)


@pytest.mark.parametrize("name, table", [("training", "TRAINING"), ("sweep", "SWEEP")])
@pytest.mark.parametrize("target", ["kubeflow", "vertex"])
def test_both_pipelines_compile_the_parameter_table_with_defaults_and_descriptions(name, table, target):
    """Every compiled parameter is a row of core.parameters (name, default, help), in both pipelines, both targets;
    the GPU rows take the target's defaults.
    """
    from movinet_pipeline.core import parameters as table_module
    from movinet_pipeline.core.parameters import REQUIRED
    from movinet_pipeline.pipelines.platform import TARGETS

    rows = getattr(table_module, table)
    compiled = read_compiled(REPO / COMMITTED[name, target])[0]["root"]["inputDefinitions"]["parameters"]
    assert list(compiled) == sorted(row.name for row in rows)
    gpu = TARGETS[target].accelerators
    target_defaults = {"accelerator_type": gpu.type, "accelerator_count": gpu.count,
                       "gpu_node_selector": dict(gpu.node_selector)}
    for row in rows:
        spec = compiled[row.name]
        assert " ".join(spec["description"].split()) == " ".join(row.help.split()), row.name
        if row.default is REQUIRED:
            assert "defaultValue" not in spec, row.name
        else:
            assert spec["defaultValue"] == target_defaults.get(row.name, row.default), row.name


def test_make_config_takes_the_parameter_keys_with_the_tables_defaults():
    """KFP needs make_config's signature written out; it must match the table."""
    import inspect

    from movinet_pipeline.components.make_config.component import make_config
    from movinet_pipeline.core.parameters import CONFIG

    signature = inspect.signature(make_config.python_func).parameters
    for row in CONFIG:
        assert signature[row.name].default == row.default and signature[row.name].annotation in (row.type,
                                                                                                row.type.__name__)


def _run_tasks(spec: dict) -> dict:
    """The steps inside the exit handler (the whole run is wrapped so its status is always reported)."""
    assert set(spec["root"]["dag"]["tasks"]) == {"exit-handler-1", "report-status"}
    assert spec["root"]["dag"]["tasks"]["report-status"]["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    return spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]


def test_steps_run_in_order_and_register_only_when_blessed():
    spec = read_compiled(REPO / "pipeline.yaml")[0]
    tasks = _run_tasks(spec)
    assert set(tasks) >= {"make-config", "export-dataset", "build-tfrecords", "train", "evaluate", "condition-2"}
    assert tasks["train"]["dependentTasks"] == ["build-tfrecords", "make-config"]
    condition = tasks["condition-2"]
    assert "evaluate" in condition["dependentTasks"]
    assert "pipelinechannel--evaluate-Output" in condition["triggerPolicy"]["condition"]
    register = spec["components"]["comp-condition-2"]["dag"]["tasks"]["register-model"]
    assert register["componentRef"]["name"] == "comp-register-model"


def test_every_step_has_resources_and_a_timeout_and_network_steps_retry():
    spec, platform = read_compiled(REPO / "pipeline.yaml")
    executors = spec["deploymentSpec"]["executors"]
    for name, executor in executors.items():
        resources = executor["container"].get("resources", {})
        if name != "exec-report-status":
            assert resources.get("resourceCpuRequest") and resources.get("resourceMemoryRequest"), name
            assert int(platform["deploymentSpec"]["executors"][name]["activeDeadlineSeconds"]) > 0, name
    tasks = _run_tasks(spec)
    register = spec["components"]["comp-condition-2"]["dag"]["tasks"]["register-model"]
    for task in (tasks["export-dataset"], register):
        assert task["retryPolicy"]["maxRetryCount"] == 3 and task["retryPolicy"]["backoffFactor"] == 2.0
    assert "retryPolicy" not in tasks["train"]  # a failed training is not retried blindly (it resumes on rerun)


@pytest.mark.parametrize("committed", ["pipeline.yaml", "pipeline-vertex.yaml", "sweep_pipeline.yaml",
                                       "sweep_pipeline-vertex.yaml"])
def test_every_step_carries_its_own_deadline_on_every_target(committed):
    """Vertex AI has no per-task timeout in the pipeline spec: each step enforces STEPS' timeout itself."""
    from movinet_pipeline.core.step_runtime import TIMEOUT_VARIABLE
    from movinet_pipeline.pipelines.platform import STEPS

    executors = read_compiled(REPO / committed)[0]["deploymentSpec"]["executors"]
    seen = set()
    for name, executor in executors.items():
        step = name.removeprefix("exec-").split("-2")[0].replace("-", "_")
        if step == "report_status":  # the exit handler: no resources, no deadline
            continue
        env = {variable["name"]: variable["value"] for variable in executor["container"].get("env", [])}
        assert env.get(TIMEOUT_VARIABLE) == str(STEPS[step].timeout_s), name
        seen.add(step)
    assert seen == set(STEPS) - ({"select_best"} if not committed.startswith("sweep") else set())


DATALOOP_STEPS = {"comp-dataset-fingerprint", "comp-export-dataset", "comp-resolve-baseline", "comp-register-model"}


@pytest.mark.parametrize("committed", ["pipeline.yaml", "pipeline-vertex.yaml", "sweep_pipeline-vertex.yaml"])
def test_every_dataloop_step_is_told_the_name_of_the_credentials_secret(committed):
    spec = read_compiled(REPO / committed)[0]
    tasks = [task for component in (spec["root"], *spec["components"].values())
             for task in component.get("dag", {}).get("tasks", {}).values()]
    dataloop_tasks = [task for task in tasks if task["componentRef"]["name"] in DATALOOP_STEPS]
    assert {task["componentRef"]["name"] for task in dataloop_tasks} == DATALOOP_STEPS
    for task in dataloop_tasks:  # the name of the Secret Manager secret, from the pipeline parameter, never a value
        assert task["inputs"]["parameters"]["dataloop_secret"] == {
            "componentInputParameter": "pipelinechannel--dataloop_secret"}


def test_dataloop_credentials_come_only_from_the_kubernetes_secret():
    spec, platform = read_compiled(REPO / "pipeline.yaml")
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["dataloop_secret"]["defaultValue"] == "dataloop-credentials"
    assert not [name for name in parameters if any(w in name for w in ("password", "api_key", "token"))]
    with_secret = {name: executor["secretAsEnv"] for name, executor in platform["deploymentSpec"]["executors"].items()
                   if "secretAsEnv" in executor}
    assert set(with_secret) == {"exec-dataset-fingerprint", "exec-export-dataset", "exec-resolve-baseline",
                                "exec-register-model", "exec-build-tfrecords"}  # build: workers that fetch videos
    # (evaluate gets the baseline fetched, never credentials)
    for secret_env in with_secret.values():
        (source,) = secret_env
        assert source["optional"] is True
        assert source["secretNameParameter"]["componentInputParameter"] == "pipelinechannel--dataloop_secret"
        assert {e["envVar"] for e in source["keyToEnv"]} >= {"DATALOOP_API_KEY", "DATALOOP_M2M_PASSWORD"}
    pipeline_text = yaml.safe_dump(spec).lower()
    assert "dataloop_api_key" not in pipeline_text and "m2m_password" not in pipeline_text


def test_pipeline_arguments_split_seed_keys_and_extra_config():
    import json

    arguments = pipeline_arguments("/data", PipelineConfig(model_id="a2", imgz=64), registry="/reg", run_id="run-7")
    assert arguments["model_id"] == "a2" and arguments["imgz"] == 64 and arguments["source"] == "/data"
    extra = json.loads(arguments["extra_config"])
    assert "model_id" not in extra and extra["weights_filename"] == "model.weights.h5"


def test_the_sweep_trains_each_model_id_in_parallel_and_registers_only_the_selected_one():
    spec = read_compiled(REPO / "sweep_pipeline.yaml")[0]
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["model_ids"]["parameterType"] == "LIST" and "model_id" not in parameters
    tasks = _run_tasks(spec)
    loop = next(task for task in tasks.values() if "parameterIterator" in task)
    loop_tasks = spec["components"][loop["componentRef"]["name"]]["dag"]["tasks"]
    assert {"make-config-2", "train", "evaluate"} <= set(loop_tasks)
    assert loop_tasks["make-config-2"]["inputs"]["parameters"]["model_id"]["componentInputParameter"].startswith(
        "pipelinechannel--model_ids-loop-item")
    assert tasks["select-best"]["inputs"]["artifacts"]["models"]
    condition = next(task for name, task in tasks.items() if name.startswith("condition"))
    assert "select-best" in condition["dependentTasks"]


def test_a_never_cached_step_fetches_the_baseline_and_evaluate_takes_it_as_an_input():
    for committed in ("pipeline.yaml", "sweep_pipeline.yaml"):
        spec = read_compiled(REPO / committed)[0]
        assert spec["root"]["inputDefinitions"]["parameters"]["baseline_model"]["defaultValue"] == ""
        tasks = {name: task for component in (spec["root"], *spec["components"].values())
                 for name, task in component.get("dag", {}).get("tasks", {}).items()}
        (resolve,) = [task for task in tasks.values() if task["componentRef"]["name"] == "comp-resolve-baseline"]
        assert resolve.get("cachingOptions", {}).get("enableCache") is not True
        assert resolve["inputs"]["parameters"]["reference"]["componentInputParameter"].endswith("baseline_model")
        (evaluate,) = [task for task in tasks.values() if task["componentRef"]["name"] == "comp-evaluate"]
        baseline = evaluate["inputs"]["artifacts"]["baseline"]  # from the task, or (in the sweep's loop) passed in
        produced = {"outputArtifactKey": "baseline", "producerTask": "resolve-baseline"}
        assert baseline.get("taskOutputArtifact") == produced \
            or baseline["componentInputArtifact"] == "pipelinechannel--resolve-baseline-baseline"
        assert not {"registry", "dataloop_secret", "baseline"} & set(evaluate["inputs"].get("parameters", {}))
        assert spec["components"]["comp-evaluate"]["inputDefinitions"]["artifacts"]["baseline"]["isOptional"]


def test_a_cached_export_follows_the_dataset_content_not_only_its_id():
    spec = read_compiled(REPO / "pipeline.yaml")[0]
    tasks = _run_tasks(spec)
    assert tasks["dataset-fingerprint"].get("cachingOptions", {}).get("enableCache") is not True  # always runs
    assert tasks["export-dataset"]["cachingOptions"]["enableCache"] is True
    assert tasks["export-dataset"]["inputs"]["parameters"]["content_key"]["taskOutputParameter"] == {
        "outputParameterKey": "Output", "producerTask": "dataset-fingerprint"}


def test_gpu_steps_take_the_accelerator_from_parameters_defaulting_to_each_targets_names():
    kubeflow, kubeflow_platform = read_compiled(REPO / "pipeline.yaml")
    vertex, vertex_platform = read_compiled(REPO / "pipeline-vertex.yaml")
    for spec, expected in ((kubeflow, "nvidia.com/gpu"), (vertex, "NVIDIA_TESLA_T4")):
        parameters = spec["root"]["inputDefinitions"]["parameters"]
        assert parameters["accelerator_type"]["defaultValue"] == expected
        assert parameters["accelerator_count"]["defaultValue"] == 1
        executors = spec["deploymentSpec"]["executors"]
        with_gpu = {name for name, e in executors.items() if "accelerator" in e["container"].get("resources", {})}
        assert with_gpu == {"exec-train", "exec-evaluate"}
        for name in with_gpu:
            accelerator = executors[name]["container"]["resources"]["accelerator"]
            assert accelerator == {"resourceType": "{{$.inputs.parameters['pipelinechannel--accelerator_type']}}",
                                   "resourceCount": "{{$.inputs.parameters['pipelinechannel--accelerator_count']}}"}
    parameters = kubeflow["root"]["inputDefinitions"]["parameters"]
    assert parameters["gpu_node_selector"]["defaultValue"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
    for name in ("exec-train", "exec-evaluate"):
        placement = kubeflow_platform["deploymentSpec"]["executors"][name]
        assert placement["nodeSelector"] == {"nodeSelectorJson": {
            "componentInputParameter": "pipelinechannel--gpu_node_selector"}}
        assert placement["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
    assert vertex_platform == {}  # Vertex takes a single-document template without a Kubernetes platform spec


def test_accelerator_defaults_can_be_chosen_at_compile_time(tmp_path):
    path = compile_pipeline("training", tmp_path / "a100.yaml", "vertex", "NVIDIA_TESLA_A100", 2)
    parameters = read_compiled(path)[0]["root"]["inputDefinitions"]["parameters"]
    assert parameters["accelerator_type"]["defaultValue"] == "NVIDIA_TESLA_A100"
    assert parameters["accelerator_count"]["defaultValue"] == 2


@pytest.mark.parametrize("target, project, location", [
    ("vertex", "{{$.pipeline_google_cloud_project_id}}", "{{$.pipeline_google_cloud_location}}"),
    ("kubeflow", "", "")])
def test_train_gets_the_replica_parameters_and_on_vertex_its_project_and_location(target, project, location):
    """Vertex AI resolves the placeholders, so a train step with train_replicas > 1 can launch its custom job."""
    for name in ("training", "sweep"):
        spec = read_compiled(REPO / COMMITTED[name, target])[0]
        dags = [component["dag"]["tasks"] for component in spec["components"].values() if "dag" in component]
        (train,) = [tasks["train"] for tasks in dags if "train" in tasks]
        inputs = train["inputs"]["parameters"]
        assert inputs["project"]["runtimeValue"]["constant"] == project
        assert inputs["location"]["runtimeValue"]["constant"] == location
        for parameter, pipeline_input in (("train_replicas", "train_replicas"), ("replica_accelerator_count",
                                                                                 "accelerator_count")):
            assert inputs[parameter]["componentInputParameter"].endswith(pipeline_input)


@pytest.mark.parametrize(("name", "target"), sorted(COMMITTED))
def test_committed_files_name_the_version_tagged_images_the_build_makes(name, target):
    """The committed YAML runs the pipeline image and, on a GPU node pool, the GPU trainer: `make images` names."""
    assert executor_images(REPO / COMMITTED[name, target]) == {image("pipeline"), image("trainer")}


def test_a_release_compiles_every_executor_image_pinned_by_digest(tmp_path):
    record = {runtime: {"image": image(runtime), "digest_reference": image(runtime).rsplit(":", 1)[0]
                        + "@sha256:" + f"{index:064x}"} for index, runtime in enumerate(RUNTIMES)}
    (tmp_path / "images.json").write_text(json.dumps(record))
    for name, target in COMMITTED:
        path = compile_pipeline(name, tmp_path / f"{name}-{target}.yaml", target,
                                image_digests=read_image_digests(tmp_path / "images.json"))
        images = executor_images(path)
        assert images == {record["pipeline"]["digest_reference"], record["trainer"]["digest_reference"]}, images
        assert "@sha256:" not in (REPO / COMMITTED[name, target]).read_text()


def test_an_image_without_a_digest_is_refused_by_name_and_nothing_is_written(tmp_path):
    pinned = image("pipeline").rsplit(":", 1)[0] + "@sha256:" + "0" * 64
    (tmp_path / "images.json").write_text(json.dumps({
        "pipeline": {"image": image("pipeline"), "digest_reference": pinned},
        "trainer": {"image": image("trainer")}}))  # built, never pushed
    assert read_image_digests(tmp_path / "images.json") == {image("pipeline"): pinned}
    completed = subprocess.run([sys.executable, "-m", "movinet_pipeline.app.cli", "compile", "--images",
                                str(tmp_path / "images.json"), "--output", str(tmp_path / "p.yaml")], cwd=REPO,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 2 and not (tmp_path / "p.yaml").exists()
    assert completed.stderr.strip() == (f"movinet-pipeline compile: error: no digest for {image('trainer')}: push "
                                        "it (images/build.py --push)")

"""The compiled training pipeline: fresh, byte-identical, and exposing the parameters users know."""

import yaml

from movinet_pipeline.config import PipelineConfig
from movinet_pipeline.local_run import SEED_KEYS, pipeline_arguments
from pipelines.compile import compile_pipeline
from tests.conftest import REPO


def test_committed_pipeline_yaml_is_fresh(tmp_path):
    fresh = compile_pipeline("training", tmp_path / "pipeline.yaml")
    assert (REPO / "pipeline.yaml").read_bytes() == fresh.read_bytes(), (
        "pipeline.yaml is stale: run `movinet-pipeline compile` and commit it")


def test_compiling_twice_is_byte_identical(tmp_path):
    first = compile_pipeline("training", tmp_path / "a.yaml").read_bytes()
    second = compile_pipeline("training", tmp_path / "b.yaml").read_bytes()
    assert first == second


def test_pipeline_parameters_carry_the_seed_keys_with_their_defaults():
    spec = yaml.safe_load((REPO / "pipeline.yaml").read_text())
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    defaults = PipelineConfig()
    for key in SEED_KEYS:
        assert key in parameters, key
        assert parameters[key]["defaultValue"] == getattr(defaults, key), key
    assert "source" in parameters and not parameters["source"].get("isOptional")
    assert {"extra_config", "beam_options", "registry", "run_id"} <= set(parameters)


def test_steps_run_in_order_and_register_only_when_blessed():
    spec = yaml.safe_load((REPO / "pipeline.yaml").read_text())
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) >= {"make-config", "export-dataset", "build-tfrecords", "train", "evaluate", "condition-1"}
    assert tasks["train"]["dependentTasks"] == ["build-tfrecords", "make-config"]
    condition = tasks["condition-1"]
    assert "evaluate" in condition["dependentTasks"]
    assert "pipelinechannel--evaluate-Output" in condition["triggerPolicy"]["condition"]
    register = spec["components"]["comp-condition-1"]["dag"]["tasks"]["register-model"]
    assert register["componentRef"]["name"] == "comp-register-model"


def test_no_secret_or_credential_is_compiled_in():
    text = (REPO / "pipeline.yaml").read_text().lower()
    for needle in ("api_key", "apikey", "password", "dataloop_m2m", "token"):
        assert needle not in text


def test_pipeline_arguments_split_seed_keys_and_extra_config():
    import json

    arguments = pipeline_arguments("/data", PipelineConfig(model_id="a2", imgz=64), "/reg", "run-7", "")
    assert arguments["model_id"] == "a2" and arguments["imgz"] == 64 and arguments["source"] == "/data"
    extra = json.loads(arguments["extra_config"])
    assert "model_id" not in extra and extra["weights_filename"] == "model.weights.h5"

"""The typed folder layouts: one list of a model's artifact files."""

from pathlib import Path

from movinet_pipeline.core import layouts

ARTIFACTS = ["model.weights.h5", "labels.json", "config.json", "history.json", "calibration.json", "stream.tflite",
             "stream_float16.tflite", "stream_int8.tflite", "saved_model/saved_model.pb",
             "saved_model/variables/variables.index", "stream/saved_model.pb"]
TRAINING_STATE = ["checkpoints/best/weights.h5", "logs/train/events.out", "checkpoints/history.csv"]


def make_model_folder(root: Path) -> Path:
    """A model folder as train writes it (causal, 2plus1d: with the stream models), contents irrelevant."""
    for name in ARTIFACTS + TRAINING_STATE:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode())
    return root


def test_a_models_artifact_files_are_what_serving_needs_and_no_training_state(tmp_path):
    model = layouts.ModelFolder(make_model_folder(tmp_path / "model"))
    files = [str(path.relative_to(model.root)) for path in model.artifact_files("model.weights.h5")]
    assert sorted(files) == sorted(ARTIFACTS)
    assert model.has_saved_model() and model.has_stream_model() and model.weights("model.weights.h5").is_file()


def test_a_base_model_without_stream_exports_lists_what_it_has(tmp_path):
    model = layouts.ModelFolder(make_model_folder(tmp_path / "model"))
    model.stream_tflite.unlink()
    for path in model.stream_model.iterdir():
        path.unlink()
    files = {str(path.relative_to(model.root)) for path in model.artifact_files("model.weights.h5")}
    assert "stream.tflite" not in files and not any(name.startswith("stream/") for name in files)
    assert model.has_saved_model() and not model.has_stream_model()


def test_the_baseline_reference_round_trips_and_is_empty_without_a_folder(tmp_path):
    layouts.write_baseline_reference(tmp_path, "dataloop://m1")
    assert layouts.read_baseline_reference(tmp_path) == "dataloop://m1"
    assert layouts.read_baseline_reference(tmp_path / "missing") == ""
    assert layouts.read_baseline_reference(None) == ""


def test_folder_layouts_take_a_kfp_artifacts_str_path():
    assert layouts.Evaluation("/runs/evaluation").report == Path("/runs/evaluation/report.html")
    assert layouts.ModelFolder("/runs/model").stream_tflite == Path("/runs/model/stream.tflite")
    assert layouts.RegisteredModel("/registry/m").artifacts.labels == Path("/registry/m/artifacts/labels.json")

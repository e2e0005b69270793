"""The gate against a baseline (the model serving now), as TFX's Evaluator: both scored on the same clips."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from movinet_pipeline.components.evaluate.evaluator import evaluate as evaluate_folders
from movinet_pipeline.components.evaluate.gate import gate
from movinet_pipeline.components.evaluate.metrics import EvaluationFigures
from movinet_pipeline.components.resolve_baseline.resolve import resolve_baseline
from movinet_pipeline.core.config import PipelineConfig, read_config
from movinet_pipeline.core.registries import ModelReferenceError


def evaluate(model, examples, output, config=None, baseline=""):
    """Evaluate after resolve_baseline, as the pipeline runs them."""
    folder = output.parent / f"{output.name}-baseline"
    reference = resolve_baseline(baseline, "", "", folder)
    return evaluate_folders(model, examples, output, config, folder if reference else None, reference)


def latest_registered(registry, dataset):
    """The reference resolve_baseline picks with no baseline named."""
    import tempfile

    return resolve_baseline("", registry, dataset, tempfile.mkdtemp(prefix="baseline-"))


def _figures(top1: float) -> EvaluationFigures:
    return EvaluationFigures("validation", 8, top1, 3, 1.0, [], [], ["down", "left", "right", "up"])


def test_the_gate_needs_the_change_against_the_baseline_the_user_asked_for():
    candidate, baseline = _figures(0.75), _figures(0.625)
    verdict = gate(candidate, PipelineConfig(), baseline, "dataloop://m1")
    assert verdict["blessed"] is True and verdict["baseline"]["change"] == pytest.approx(0.125)
    assert "against baseline dataloop://m1 (0.625 on the same 8 clips) top-1 changes by +0.125" in verdict["reason"]
    strict = gate(candidate, PipelineConfig(min_improvement=0.2), baseline, "dataloop://m1")
    assert strict["blessed"] is False and "short of min_improvement +0.200" in strict["reason"]
    worse = gate(_figures(0.5), PipelineConfig(), baseline, "/models/prod")
    assert worse["blessed"] is False and worse["baseline"]["passed"] is False
    tolerated = gate(_figures(0.5), PipelineConfig(min_improvement=-0.2), baseline, "/models/prod")
    assert tolerated["blessed"] is True
    alone = gate(_figures(0.2), PipelineConfig(), None)
    assert alone["blessed"] is False and alone["baseline"] is None  # below chance, no baseline to save it


@pytest.fixture(scope="module")
def confused_model(pipeline_run, tmp_path_factory):
    """The candidate with its class outputs rotated by one (predicts `left` for `down`, ...): a much worse model
    on the same labels, so a baseline comparison has a real difference to find.
    """
    import numpy as np

    from movinet_pipeline.core.model import network as modeling

    config = read_config(pipeline_run["model"] / "config.json")
    folder = tmp_path_factory.mktemp("confused") / "model"
    shutil.copytree(pipeline_run["model"], folder, ignore=shutil.ignore_patterns("saved_model", "checkpoints", "logs"))
    classifier = modeling.build_classifier(modeling.build_backbone(config.model_id, config.conv_type), 4,
                                           config.n_frames, config.imgz)
    classifier.load_weights(str(folder / config.weights_filename))
    rotated = [v for v in classifier.variables if v.shape.rank and v.shape[-1] == 4]
    assert rotated, "no class output variables found"
    for variable in rotated:
        variable.assign(np.roll(variable.numpy(), 1, axis=-1))
    classifier.save_weights(str(folder / config.weights_filename))
    modeling.export_saved_model(classifier, folder / "saved_model")
    return folder


def test_a_worse_baseline_is_beaten_and_a_better_one_blocks_the_candidate(pipeline_run, confused_model, tmp_path):
    config = read_config(pipeline_run["model"] / "config.json")
    figures, verdict = evaluate(pipeline_run["model"], pipeline_run["examples"], tmp_path / "vs-worse", config,
                                baseline=str(confused_model))
    worse = verdict["baseline"]["top1_accuracy"]
    assert figures.top1_accuracy >= 0.8 and worse <= 0.3, (figures.top1_accuracy, worse)
    assert verdict["baseline"]["change"] == pytest.approx(figures.top1_accuracy - worse)
    _, demanding = evaluate(pipeline_run["model"], pipeline_run["examples"], tmp_path / "demanding",
                            dataclasses.replace(config, min_improvement=0.5), baseline=str(confused_model))
    assert demanding["blessed"] is True
    _, reversed_roles = evaluate(confused_model, pipeline_run["examples"], tmp_path / "vs-better", config,
                                 baseline=str(pipeline_run["model"]))
    assert reversed_roles["blessed"] is False and reversed_roles["baseline"]["passed"] is False
    assert reversed_roles["baseline"]["top1_accuracy"] == pytest.approx(figures.top1_accuracy)


def test_a_registered_model_is_a_baseline_on_the_same_clips(pipeline_run, tmp_path):
    entry = next(p for p in pipeline_run["registry"].iterdir() if p.is_dir())
    config = read_config(pipeline_run["model"] / "config.json")
    figures, verdict = evaluate(pipeline_run["model"], pipeline_run["examples"], tmp_path / "same", config,
                                baseline=str(entry))
    assert verdict["blessed"] is True
    assert verdict["baseline"] == {"source": str(entry), "top1_accuracy": figures.top1_accuracy, "change": 0.0,
                                   "passed": True}
    assert json.loads((tmp_path / "same" / "verdict.json").read_text())["baseline"]["source"] == str(entry)
    _, strict = evaluate(pipeline_run["model"], pipeline_run["examples"], tmp_path / "strict",
                         dataclasses.replace(config, min_improvement=0.01), baseline=str(entry))
    assert strict["blessed"] is False and "short of min_improvement +0.010" in strict["reason"]


def test_a_baseline_that_cannot_be_compared_is_refused_by_name(pipeline_run, tmp_path):
    entry = next(p for p in pipeline_run["registry"].iterdir() if p.is_dir())
    other = tmp_path / "other-labels"
    shutil.copytree(entry, other)
    (other / "artifacts" / "labels.json").write_text(json.dumps(["cat", "dog", "bird", "fish"]))
    with pytest.raises(ModelReferenceError, match="other-labels has labels .*cat.* cannot be compared"):
        evaluate(pipeline_run["model"], pipeline_run["examples"], tmp_path / "a", baseline=str(other))
    with pytest.raises(ModelReferenceError, match="nowhere holds no exported model"):
        evaluate(pipeline_run["model"], pipeline_run["examples"], tmp_path / "b", baseline=str(tmp_path / "nowhere"))


def test_the_model_registered_in_dataloop_is_a_baseline(pipeline_run, dataloop_env, tmp_path):
    model_id = pipeline_run["registered"]["model_id"]
    figures, verdict = evaluate(pipeline_run["model"], pipeline_run["run_dir"] / "build-tfrecords"
                                / "examples", tmp_path / "evaluation", baseline=f"dataloop://{model_id}")
    assert verdict["baseline"]["source"] == f"dataloop://{model_id}"
    assert verdict["baseline"]["top1_accuracy"] == figures.top1_accuracy and verdict["baseline"]["passed"]


def test_unnamed_the_baseline_is_the_newest_model_registered_for_the_same_source(pipeline_run, tmp_path):
    entry = next(p for p in pipeline_run["registry"].iterdir() if p.is_dir())
    assert latest_registered(str(pipeline_run["registry"]), pipeline_run["export"]) == str(entry)
    other = tmp_path / "other-export"
    other.mkdir()
    info = json.loads((pipeline_run["export"] / "export.json").read_text())
    (other / "export.json").write_text(json.dumps({**info, "source": "dataloop://another-dataset"}))
    assert latest_registered(str(pipeline_run["registry"]), other) == ""
    assert latest_registered("", pipeline_run["export"]) == ""


def test_unnamed_in_dataloop_the_baseline_is_the_model_registered_for_the_dataset(pipeline_run, dataloop_env):
    project = f"dataloop://{dataloop_env.project['id']}"
    assert latest_registered(project, pipeline_run["export"]) == \
        f"dataloop://{pipeline_run['registered']['model_id']}"

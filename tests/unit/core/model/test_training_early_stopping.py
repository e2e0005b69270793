"""Inside `train` and `evaluate`: early stopping, class balance, and calibration fitted on validation and reported."""

import json
import logging

import pytest

from movinet_pipeline.core.config import PipelineConfig

CONFIG = PipelineConfig(imgz=32, n_frames=4, batch_size=4, num_shards=1, conv_type="2plus1d", pretrained="none",
                        norm_momentum=0.9)


@pytest.fixture(scope="module")
def examples(exported_dir, tmp_path_factory):
    from movinet_pipeline.core.examples.job import build_examples

    folder = tmp_path_factory.mktemp("early-stopping") / "examples"
    build_examples(exported_dir, folder, CONFIG, ["--direct_running_mode=in_memory"])
    return folder


@pytest.mark.slow
def test_training_that_stops_improving_stops_after_the_patience_and_is_calibrated_on_validation(examples, tmp_path,
                                                                                               caplog):
    """One training for both: balanced sampling, early stopping, then calibration fitted on validation, reported
    by the evaluation.
    """
    from movinet_pipeline.components.evaluate.evaluator import evaluate
    from movinet_pipeline.core import layouts
    from movinet_pipeline.core.model.calibration import Calibration
    from movinet_pipeline.core.model.training import train

    # A frozen backbone (batch norm in inference mode) and a vanishing learning rate: validation cannot improve.
    config = CONFIG.replace(num_epochs=8, freeze_backbone_epochs=8, learning_rate=1e-9, early_stopping_patience=2,
                            class_balance="sampling", temperature_scaling=True, target_precision=0.5)
    with caplog.at_level(logging.INFO, logger="movinet_pipeline"):
        summary = train(examples, tmp_path / "model", config)
    assert summary.epochs == 3, "the first epoch sets the best, two more without improvement stop it"
    assert "stopped early after epoch 3: validation accuracy has not improved for 2 epoch(s)" in caplog.text
    assert "class_balance=sampling over training clips per label" in caplog.text
    history = json.loads((tmp_path / "model" / "history.json").read_text())
    assert len(history["epoch"]) == 3 and (tmp_path / "model" / "saved_model" / "saved_model.pb").exists()

    calibration = Calibration.read(tmp_path / "model")
    validation = sum(json.loads((examples / "stats.json").read_text())["clips_per_subset_label"]["validation"].values())
    assert calibration.fitted_on == "validation" and calibration.clips == validation
    assert calibration.temperature != 1.0 and 0 <= calibration.ece_after <= 1
    assert set(calibration.thresholds) == set(layouts.read_labels(examples))
    assert layouts.ModelFolder(tmp_path / "model").calibration in \
        layouts.ModelFolder(tmp_path / "model").artifact_files(config.weights_filename), "registered with the model"

    evaluate(tmp_path / "model", examples, tmp_path / "evaluation", config)
    figures = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())["calibration"]
    assert figures["temperature"] == pytest.approx(calibration.temperature)
    assert figures["fitted_on_evaluation_clips"] and sum(b["count"] for b in figures["reliability"]) == validation
    report = (tmp_path / "evaluation" / "report.html").read_text()
    assert "<h2>Calibration</h2>" in report and 'class="reliability"' in report and "are optimistic" in report

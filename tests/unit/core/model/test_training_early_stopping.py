"""Early stopping and class balance inside `train`: a run that stops improving ends early and keeps its best epoch."""

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
def test_training_that_stops_improving_stops_after_the_patience(examples, tmp_path, caplog):
    from movinet_pipeline.core.model.training import train

    # A frozen backbone (batch norm in inference mode) and a vanishing learning rate: validation cannot improve.
    config = CONFIG.replace(num_epochs=8, freeze_backbone_epochs=8, learning_rate=1e-9, early_stopping_patience=2,
                            class_balance="weights")
    with caplog.at_level(logging.INFO, logger="movinet_pipeline"):
        summary = train(examples, tmp_path / "model", config)
    assert summary.epochs == 3, "the first epoch sets the best, two more without improvement stop it"
    assert "stopped early after epoch 3: validation accuracy has not improved for 2 epoch(s)" in caplog.text
    assert "class_balance=weights over training clips per label" in caplog.text
    history = json.loads((tmp_path / "model" / "history.json").read_text())
    assert len(history["epoch"]) == 3 and (tmp_path / "model" / "saved_model" / "saved_model.pb").exists()


@pytest.mark.slow
def test_balanced_sampling_trains_from_the_training_stats(examples, tmp_path, caplog):
    from movinet_pipeline.core.model.training import train

    with caplog.at_level(logging.INFO, logger="movinet_pipeline"):
        summary = train(examples, tmp_path / "model", CONFIG.replace(num_epochs=1, class_balance="sampling"))
    assert summary.epochs == 1 and "class_balance=sampling over training clips per label" in caplog.text

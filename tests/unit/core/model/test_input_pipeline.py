"""Multi-clip evaluation (`eval_clips`): several temporal windows per clip, their probabilities averaged."""

import dataclasses

import numpy as np
import tensorflow as tf

from movinet_pipeline.components.evaluate.evaluator import evaluate, evaluation_subset, score
from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import read_config
from movinet_pipeline.core.model import input_pipeline as data


def test_windows_spread_from_the_first_stored_frame_to_the_last():
    positions = data._view_positions(tf.constant(16), 4, 3).numpy()
    np.testing.assert_array_equal(positions, [[0, 4, 8, 12], [2, 6, 10, 14], [3, 7, 11, 15]])
    np.testing.assert_array_equal(data._view_positions(tf.constant(16), 4, 1).numpy(), [[0, 4, 8, 12]])


def test_scores_average_the_probabilities_of_every_window(pipeline_run, tmp_path):
    model, examples = pipeline_run["model"], pipeline_run["examples"]
    config = dataclasses.replace(read_config(model / "config.json"), eval_clips=3)
    subset = evaluation_subset(examples)
    truth, scores = score(model, examples, subset, config)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
    serve = tf.saved_model.load(str(model / layouts.SAVED_MODEL)).signatures["serving_default"]
    first = next(iter(tf.data.TFRecordDataset(data.record_files(examples, subset))))
    windows, label = data.parse_views(first, config.n_frames, config.imgz, 3)
    by_hand = tf.reduce_mean(tf.nn.softmax(serve(image=windows)["logits"]), axis=0).numpy()
    np.testing.assert_allclose(scores[0], by_hand, atol=1e-5)
    assert truth[0] == int(label)
    figures, _ = evaluate(model, examples, tmp_path / "evaluation", config)
    assert figures.clips == len(truth) and figures.top1_accuracy > 1 / len(figures.labels)
    assert '"eval_clips": 3' in (tmp_path / "evaluation" / layouts.METRICS).read_text()

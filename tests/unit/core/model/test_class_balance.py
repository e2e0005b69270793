"""Imbalanced labels and early stopping: balanced resampling, loss weights, and the patience count of a resumed run."""

import numpy as np
import pytest
import tensorflow as tf

from movinet_pipeline.core import layouts
from movinet_pipeline.core.media.records import ClipRecord, serialize_clip
from movinet_pipeline.core.model.input_pipeline import _label_of, balance_labels
from movinet_pipeline.core.model.training import _EarlyStopping, _sparse_loss, class_weights


def _records(labels: list[int]) -> tf.data.Dataset:
    serialized = [serialize_clip(ClipRecord([b"jpeg"], label, str(label), f"item-{i}", [0], 1.0))
                  for i, label in enumerate(labels)]
    return tf.data.Dataset.from_tensor_slices(serialized)


def test_balanced_sampling_gives_a_rare_label_its_share_before_decoding():
    records = _records([0] * 90 + [1] * 10).shuffle(100, seed=1).repeat()
    drawn = [int(label) for label in balance_labels(records, [90, 10], seed=3).map(_label_of).take(2000)]
    assert 0.45 < drawn.count(1) / len(drawn) < 0.55, "about half, against 10 % in the records"
    with pytest.raises(ValueError, match=r"clips of every label; clips per label index: \[90, 10, 0\]"):
        balance_labels(records, [90, 10, 0])


def test_class_weights_are_balanced_and_scale_each_clip_loss():
    weights = class_weights([90, 10, 0])
    assert weights == pytest.approx([100 / 180, 100 / 20, 0.0])
    logits = tf.constant([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    labels = tf.constant([0, 1])
    plain = _sparse_loss(0.0)(labels, logits).numpy()
    weighted = _sparse_loss(0.0, weights)(labels, logits).numpy()
    np.testing.assert_allclose(weighted, plain * np.array(weights[:2]), rtol=1e-6)


def test_early_stopping_continues_the_count_of_the_epochs_already_logged(tmp_path):
    csv = tmp_path / layouts.HISTORY_CSV
    csv.write_text("epoch,accuracy,val_accuracy\n0,0.5,0.50\n1,0.6,0.70\n2,0.7,0.60\n3,0.7,0.65\n")
    stopper = _EarlyStopping(patience=3, history_csv=csv)
    stopper.on_train_begin()
    assert (stopper.best, stopper.best_epoch, stopper.wait) == (0.70, 1, 2)
    fresh = _EarlyStopping(patience=3, history_csv=tmp_path / "none.csv")
    fresh.on_train_begin()
    assert fresh.wait == 0 and fresh.best == -np.inf

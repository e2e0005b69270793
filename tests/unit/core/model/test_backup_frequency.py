"""Preemption backups: at least `backup_steps` apart, at epoch ends or halves (`training.backup_frequency`)."""

import pytest

from movinet_pipeline.core.model.training import backup_frequency


@pytest.mark.parametrize(("steps_per_epoch", "backup_steps", "save_freq"), [
    (1000, 100, 500),     # long epochs: twice per epoch
    (150, 100, "epoch"),  # half an epoch is too short: every epoch
    (100, 100, "epoch"),
    (24, 100, 120),       # short epochs: the end of every 5th epoch (24 * 5 >= 100)
    (24, 0, "epoch"),     # 0: every epoch
    (None, 100, "epoch"),  # unknown epoch length: every epoch
])
def test_backups_are_at_least_backup_steps_apart_at_epoch_ends_or_halves(steps_per_epoch, backup_steps, save_freq):
    assert backup_frequency(steps_per_epoch, backup_steps) == save_freq

"""The local Beam job reports its progress from the driver while the runner blocks it."""

import logging
from pathlib import Path

from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.examples.job import build_examples as build_tfrecords
from movinet_pipeline.core.examples.progress import JobProgress, mark_done


def test_the_job_logs_its_progress_every_tenth_up_to_every_video(exported_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="movinet_pipeline.core.examples.progress")
    build_tfrecords(exported_dir, tmp_path / "examples", PipelineConfig(imgz=32, n_frames=4, num_shards=1),
                    ["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    total = len(list(layouts.read_manifest(exported_dir)))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("TFRecords:")]
    assert lines and lines[-1].startswith(f"TFRecords: {total}/{total} videos (100%)")
    assert len(lines) <= 10


def test_workers_count_into_the_folder_and_remote_runners_get_none(tmp_path):
    with JobProgress(4, local=True) as progress:
        for _ in range(3):
            mark_done(progress.folder)
        assert progress.done() == 3
    assert not Path(progress.folder).exists()  # cleaned up
    assert JobProgress(4, local=False).folder is None

"""Scale-out data path: the export leaves the videos in Dataloop or in a gs:// download folder; Beam workers fetch them.

Run with the multi-process local runner (two worker processes) against the project's Dataloop emulator, through
the real dtlpy in each worker.
"""

from __future__ import annotations

import json

from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.examples.job import build_examples
from movinet_pipeline.core.media.records import iter_tfrecords, parse_clip
from movinet_pipeline.core.sources import dataset_source
from tests.dataloop_emulator.seed import seed_dataset

CONFIG = PipelineConfig(imgz=32, n_frames=4, record_frames=6, num_shards=1, max_skipped_fraction=0.1)
TWO_WORKER_PROCESSES = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
IN_PROCESS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _records(examples) -> set[tuple[str, str, tuple[int, ...], bytes]]:
    return {(clip.media_id, clip.label_text, tuple(clip.frame_indices), clip.jpeg_frames[0])
            for subset in ("train", "validation") for shard in layouts.Examples(str(examples)).record_files(subset)
            for clip in map(parse_clip, iter_tfrecords(shard))}


def _streams(emulator) -> int:
    return emulator.calls("GET", r".*/items/[0-9a-f]+/stream")


def test_workers_fetch_the_videos_the_export_left_in_dataloop(dataloop_env, sample_dir, tmp_path):
    dataset = seed_dataset(dataloop_env.store, dataloop_env.project["id"], "fetched-by-workers", sample_dir)
    uri = f"dataloop://{dataset['id']}"
    options = json.dumps({"video_download": "auto"})
    dataset_source(uri, export_options=options).export(tmp_path / "downloaded")  # a local runner: the export downloads
    build_examples(tmp_path / "downloaded", tmp_path / "from-export", CONFIG, IN_PROCESS)

    before = _streams(dataloop_env)
    summary = dataset_source(uri, export_options=options, remote_runner=True).export(tmp_path / "manifest-only")
    assert _streams(dataloop_env) == before and summary.clips == 20, "a remote runner: the export fetches no video"
    assert not list((tmp_path / "manifest-only").rglob("*.mp4"))
    info = layouts.read_export_info(tmp_path / "manifest-only")
    assert info["video_source"] == uri

    gone = next(e for e in layouts.read_manifest(tmp_path / "manifest-only") if e.subset == "train")
    dataloop_env.store.items.pop(gone.item_id)  # deleted between the export and the build: a dead letter
    stats = build_examples(tmp_path / "manifest-only", tmp_path / "from-workers", CONFIG, TWO_WORKER_PROCESSES)
    assert _streams(dataloop_env) - before == 19, "each worker fetched the videos it decoded, once each"
    assert stats["clips"] == 19 and stats["skipped"] == 1 and stats["lost"] == 1
    (error,) = stats["skipped_reasons"]
    assert error["item"] == gone.video and "DataloopError" in error["reason"] and gone.item_id in error["reason"]
    expected = {record for record in _records(tmp_path / "from-export") if record[0] != gone.item_id}
    assert _records(tmp_path / "from-workers") == expected, "the same records as from the export's folder"


def _upload(folder, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            storage.write_once(storage.join(prefix, path.relative_to(folder).as_posix()), path.read_bytes())


def test_workers_read_a_gcs_download_folder_in_place(sample_dir, exported_dir, gcs_emulator, monkeypatch, tmp_path):
    from tests.conftest import GCS_BUCKET

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    uri = f"gs://{GCS_BUCKET}/download-folder"
    _upload(sample_dir, uri)
    options = json.dumps({"video_download": "auto"})

    local_runner = dataset_source(uri, export_options=options).export(tmp_path / "downloaded")
    assert local_runner.clips == 20 and len(list((tmp_path / "downloaded").rglob("*.mp4"))) == 20, \
        "a local runner: the export streams the videos into its folder"
    summary = dataset_source(uri, export_options=options, remote_runner=True).export(tmp_path / "manifest-only")
    assert summary.clips == 20 and not list((tmp_path / "manifest-only").rglob("*.mp4"))
    assert layouts.read_export_info(tmp_path / "manifest-only")["video_source"] == uri

    entries = list(layouts.read_manifest(tmp_path / "manifest-only"))
    gone = next(e for e in entries if e.subset == "train")
    storage.delete(storage.join(uri, gone.video))  # deleted between the export and the build: a dead letter
    stats = build_examples(tmp_path / "manifest-only", tmp_path / "from-workers", CONFIG, TWO_WORKER_PROCESSES)
    assert stats["clips"] == 19 and stats["skipped"] == 1 and stats["lost"] == 1
    (error,) = stats["skipped_reasons"]
    assert error["item"] == gone.video and "OSError" in error["reason"] and gone.video in error["reason"]
    build_examples(exported_dir, tmp_path / "from-local", CONFIG, IN_PROCESS)
    expected = {record for record in _records(tmp_path / "from-local") if record[0] != gone.item_id}
    assert _records(tmp_path / "from-workers") == expected, "the same records as from the local folder"

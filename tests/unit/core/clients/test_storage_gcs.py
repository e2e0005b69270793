"""build-tfrecords reads and writes gs:// URIs, against a local GCS emulator (no cloud, no credentials)."""

import json
import subprocess
import sys

import pytest

from movinet_pipeline.core.media.records import iter_tfrecords, parse_clip
from tests.conftest import GCS_BUCKET, REPO


@pytest.fixture()
def bucket(gcs_emulator, monkeypatch):
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    return storage.Client.create_anonymous_client().bucket(GCS_BUCKET)


def test_build_tfrecords_from_and_to_gcs(exported_dir, bucket, gcs_emulator, tmp_path):
    for path in exported_dir.rglob("*"):
        if path.is_file():
            bucket.blob(f"export/{path.relative_to(exported_dir)}").upload_from_filename(str(path))
    env = {"PATH": "/usr/bin:/bin", "STORAGE_EMULATOR_HOST": gcs_emulator, "NO_GCE_CHECK": "true",
           "HOME": str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, "-m", "movinet_pipeline.app.cli", "build-tfrecords", "--input", f"gs://{GCS_BUCKET}/export",
         "--output", f"gs://{GCS_BUCKET}/examples", "--imgz", "32", "--n-frames", "4"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    names = {blob.name for blob in bucket.list_blobs(prefix="examples/")}
    assert {"examples/labels.json", "examples/stats.json", "examples/errors.jsonl",
            "examples/contact_sheet.html"} <= names
    shards = sorted(n for n in names if n.startswith("examples/train/") and n.endswith(".tfrecord"))
    assert len(shards) == 2
    assert not any("clip_stats" in n or "errors_part" in n or "beam-temp" in n for n in names)
    stats = json.loads(bucket.blob("examples/stats.json").download_as_text())
    assert stats["clips"] == 20 and stats["skipped"] == 0
    local = tmp_path / "shard.tfrecord"
    bucket.blob(shards[0]).download_to_filename(str(local))
    clips = [parse_clip(raw) for raw in iter_tfrecords(local)]
    assert clips and all(len(c.jpeg_frames) == 8 for c in clips)

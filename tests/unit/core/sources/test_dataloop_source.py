"""export_dataset from Dataloop, through the real dtlpy SDK against the local gate emulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients.dataloop import DataloopError
from movinet_pipeline.core.sources.dataloop import export_dataloop
from movinet_pipeline.core.sources.download_folder import ExportError, export_local
from tests.conftest import REPO
from tests.dataloop_emulator.seed import seed_dataset

CLASS = {"type": "class", "coordinates": [], "metadata": {"system": {"frame": 0, "endFrame": 23}}}


def _manifest(folder: Path) -> list[tuple]:
    return sorted((e.video, e.label, e.subset, e.start_frame, e.end_frame) for e in layouts.read_manifest(folder))


def _video_streams(emulator, dataset_id: str) -> int:
    video_ids = {i["id"] for i in emulator.store.items.values()
                 if i["datasetId"] == dataset_id and i["metadata"]["system"].get("mimetype", "").startswith("video")}
    return sum(1 for method, path in emulator.requests
               if method == "GET" and path.endswith("/stream") and path.split("/")[-2] in video_ids)


def test_export_from_dataloop_matches_the_local_export_of_the_same_videos(dataloop_env, dataloop_dataset, sample_dir,
                                                                          tmp_path):
    summary = export_dataloop(dataloop_dataset["id"], tmp_path / "remote")
    export_local(sample_dir, tmp_path / "local")
    assert _manifest(tmp_path / "remote") == _manifest(tmp_path / "local")
    assert summary.labels == ["down", "left", "right", "up"] and summary.clips_per_subset == {"train": 12,
                                                                                             "validation": 8}
    for entry in layouts.read_manifest(tmp_path / "remote"):
        assert (tmp_path / "remote" / entry.video).read_bytes() == (sample_dir / entry.video).read_bytes()
    info = json.loads((tmp_path / "remote" / layouts.EXPORT_INFO).read_text())
    assert info["source"] == f"dataloop://{dataloop_dataset['id']}" and info["dataset_id"] == dataloop_dataset["id"]


def test_interrupted_export_resumes_without_downloading_complete_files_again(dataloop_env, dataloop_dataset, tmp_path):
    output = tmp_path / "export"
    export_dataloop(dataloop_dataset["id"], output)
    videos = sorted((output / "items").rglob("*.mp4"))
    expected = {path: path.read_bytes() for path in videos}
    videos[0].unlink()  # never downloaded
    partial = videos[1].with_name(videos[1].name + ".download")  # dtlpy's in-flight file of a killed export
    videos[1].rename(partial)
    partial.write_bytes(expected[videos[1]][:100])
    before = _video_streams(dataloop_env, dataloop_dataset["id"])
    export_dataloop(dataloop_dataset["id"], output)
    assert _video_streams(dataloop_env, dataloop_dataset["id"]) - before == 2
    assert not partial.exists()
    assert {path: path.read_bytes() for path in sorted((output / "items").rglob("*.mp4"))} == expected


def test_dql_filter_narrows_the_items(dataloop_env, dataloop_dataset, tmp_path):
    summary = export_dataloop(dataloop_dataset["id"], tmp_path / "export", json.dumps({"name": "*_000.mp4"}))
    assert summary.clips_per_subset == {"train": 4, "validation": 4}
    assert {Path(e.video).name for e in layouts.read_manifest(tmp_path / "export")} == {
        f"{label}_000.mp4" for label in ("down", "left", "right", "up")}


def test_subset_filters_define_the_subsets(dataloop_env, dataloop_dataset, tmp_path):
    swapped = {"train": {"dir": "/validation"}, "validation": {"filter": {"dir": "/train"}}}
    summary = export_dataloop(dataloop_dataset["id"], tmp_path / "export", subset_filters=json.dumps(swapped))
    assert summary.clips_per_subset == {"train": 8, "validation": 12}
    for entry in layouts.read_manifest(tmp_path / "export"):
        assert entry.subset == ("train" if "/validation/" in entry.video else "validation")


def test_problem_items_are_reported_and_the_export_goes_on(dataloop_env, sample_dir, tmp_path):
    store = dataloop_env.store
    dataset = seed_dataset(store, dataloop_env.project["id"], "messy", sample_dir)
    video = (sample_dir / "items" / "train" / "up_000.mp4").read_bytes()
    store.add_item(dataset["id"], "/train/notes.txt", b"not a video")
    store.add_item(dataset["id"], "/train/unlabelled.mp4", video)
    broken = store.add_item(dataset["id"], "/train/broken-annotation.mp4", video)
    store.add_annotation(broken["id"], {**CLASS, "label": "up", "metadata": {"system": {"frame": "first"}}})
    tagged = store.add_item(dataset["id"], "/pool/tagged.mp4", video, {"system": {"tags": {"validation": True}}})
    store.add_annotation(tagged["id"], {**CLASS, "label": "up"})
    summary = export_dataloop(dataset["id"], tmp_path / "export")
    reasons = {e.item: e.reason for e in layouts.read_errors(tmp_path / "export" / layouts.ERRORS)}
    assert reasons["/train/notes.txt"].startswith("not a video")
    assert "no class annotation" in reasons["/train/unlabelled.mp4"]
    assert reasons["/train/broken-annotation.mp4"].startswith("unreadable annotation")
    assert summary.skipped == 3 and summary.clips_per_subset == {"train": 12, "validation": 9}
    assert not (tmp_path / "export" / "items" / "train" / "notes.txt").exists()  # reported, never downloaded


def test_clear_errors_for_a_wrong_dataset_an_empty_subset_and_one_sided_labels(dataloop_env, dataloop_dataset,
                                                                               sample_dir, tmp_path):
    with pytest.raises(DataloopError, match="^dataset 'no-such-dataset' not found"):
        export_dataloop("no-such-dataset", tmp_path / "a")
    with pytest.raises(ExportError, match="subset 'validation' has no labelled clip"):
        export_dataloop(dataloop_dataset["id"], tmp_path / "b", json.dumps({"dir": "/train"}))
    with pytest.raises(ExportError, match="subset filter 'validation' matches no video"):
        export_dataloop(dataloop_dataset["id"], tmp_path / "c", subset_filters=json.dumps(
            {"train": {"dir": "/train"}, "validation": {"dir": "/nowhere"}}))
    store = dataloop_env.store
    dataset = seed_dataset(store, dataloop_env.project["id"], "one-sided", sample_dir)
    extra = store.add_item(dataset["id"], "/train/sideways.mp4", (sample_dir / "items/train/up_000.mp4").read_bytes())
    store.add_annotation(extra["id"], {**CLASS, "label": "sideways"})
    with pytest.raises(ExportError, match="'sideways' is only in train"):
        export_dataloop(dataset["id"], tmp_path / "d")
    with pytest.raises(ExportError, match="filter is not valid JSON"):
        export_dataloop(dataloop_dataset["id"], tmp_path / "e", "{dir: /train}")


def test_credentials_come_from_the_environment_or_a_mounted_secret(dataloop_emulator, dataloop_dataset, monkeypatch,
                                                                   tmp_path):
    from movinet_pipeline.core.clients.dataloop import connect

    monkeypatch.setenv("DATALOOP_ENV", dataloop_emulator.url)
    with pytest.raises(DataloopError, match="no Dataloop credentials"):
        connect()
    monkeypatch.setenv("DATALOOP_API_KEY", "eyJhbGciOiJIUzI1NiJ9.eyJlbWFpbCI6ImEiLCJleHAiOjk5OTk5OTk5OTl9.forged")
    with pytest.raises(DataloopError, match="rejected the API key"):
        connect()
    monkeypatch.delenv("DATALOOP_API_KEY")
    secret = tmp_path / "secret" / "api-key"
    secret.parent.mkdir()
    secret.write_text(dataloop_emulator.issue_token("secret-user@example.com") + "\n")
    monkeypatch.setenv("DATALOOP_API_KEY_FILE", str(secret))
    assert connect().info(with_token=False)["user_email"] == "secret-user@example.com"
    monkeypatch.delenv("DATALOOP_API_KEY_FILE")
    dataloop_emulator.m2m_users["robot@example.com"] = "s3cret"
    monkeypatch.setenv("DATALOOP_M2M_EMAIL", "robot@example.com")
    monkeypatch.setenv("DATALOOP_M2M_PASSWORD", "wrong")
    with pytest.raises(DataloopError, match="rejected the M2M login of robot@example.com"):
        connect()
    monkeypatch.setenv("DATALOOP_M2M_PASSWORD", "s3cret")
    assert connect().info(with_token=False)["user_email"] == "robot@example.com"


def test_cli_export_from_dataloop_never_prints_the_key(dataloop_emulator, dataloop_dataset, tmp_path):
    key = dataloop_emulator.issue_token()
    env = {**__import__("os").environ, "DATALOOP_ENV": dataloop_emulator.url, "DATALOOP_API_KEY": key}
    command = [sys.executable, "-m", "movinet_pipeline.app.cli", "-v", "export", "--source",
               f"dataloop://{dataloop_dataset['id']}", "--output", str(tmp_path / "export")]
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert len(list(layouts.read_manifest(tmp_path / "export"))) == 20
    assert key not in completed.stdout + completed.stderr
    assert key[-20:] not in completed.stdout + completed.stderr
    missing = subprocess.run(command[:3] + command[4:-1] + [str(tmp_path / "other")], cwd=REPO,
                             env={**env, "DATALOOP_API_KEY": ""}, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "no Dataloop credentials" in missing.stderr


def test_the_content_key_changes_with_items_and_labels_and_only_then(dataloop_env, sample_dir, tmp_path):
    from movinet_pipeline.core.sources import source_content_key as source_fingerprint

    store = dataloop_env.store
    dataset = seed_dataset(store, dataloop_env.project["id"], "keyed", sample_dir)
    uri = f"dataloop://{dataset['id']}"
    first = source_fingerprint(uri)
    assert source_fingerprint(uri) == first
    annotation = next(a for a in store.annotations.values() if a["datasetId"] == dataset["id"])
    annotation["label"], annotation["updatedAt"] = "sideways", "2026-12-01T00:00:00.000Z"
    relabelled = source_fingerprint(uri)
    assert relabelled != first
    store.add_item(dataset["id"], "/train/new.mp4", (sample_dir / "items/train/up_000.mp4").read_bytes())
    assert source_fingerprint(uri) not in (first, relabelled)
    assert source_fingerprint(uri, json.dumps({"dir": "/train"})) != source_fingerprint(uri)
    folder = tmp_path / "folder"
    (folder / "json").mkdir(parents=True)
    (folder / "json" / "a.json").write_text("{}")
    before = source_fingerprint(str(folder))
    (folder / "json" / "a.json").write_text('{"changed": true}')
    assert source_fingerprint(str(folder)) != before


def test_a_dataset_the_key_cannot_see_is_a_one_line_403(dataloop_env, sample_dir, tmp_path):
    private = dataloop_env.store.add_project("private")
    private["members"] = ["owner@example.com"]
    dataset = seed_dataset(dataloop_env.store, private["id"], "private-videos", sample_dir)
    with pytest.raises(DataloopError, match=rf"^dataset '{dataset['id']}': permission denied \(HTTP 403\); these "
                                            "credentials are not a member"):
        export_dataloop(dataset["id"], tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_a_transient_gate_error_is_retried_and_the_export_resumes(dataloop_env, dataloop_dataset, tmp_path,
                                                                  monkeypatch, caplog):
    from movinet_pipeline.core.clients import dataloop as dataloop_client
    from movinet_pipeline.core.sources import dataset_source

    monkeypatch.setattr(dataloop_client, "RETRY_WAIT_S", 0.01)
    caplog.set_level("WARNING", logger="movinet_pipeline")
    dataloop_env.fail_call(3, "500")
    summary = dataset_source(f"dataloop://{dataloop_dataset['id']}").export(tmp_path / "export")
    assert not dataloop_env.faults and summary.clips == 20 and summary.skipped == 0
    assert "failed (attempt 1 of 4), retrying" in caplog.text and "HTTP 500" in caplog.text


def test_items_whose_names_would_leave_the_folder_are_dead_lettered_not_downloaded(dataloop_env, sample_dir,
                                                                                 tmp_path):
    store = dataloop_env.store
    dataset = seed_dataset(store, dataloop_env.project["id"], "hostile-names", sample_dir)
    video = (sample_dir / "items" / "train" / "up_000.mp4").read_bytes()
    hostile = store.add_item(dataset["id"], "/train/../../../escaped.mp4", video)
    store.add_annotation(hostile["id"], {**CLASS, "label": "up"})
    summary = export_dataloop(dataset["id"], tmp_path / "out" / "export")
    reasons = {e.item: e.reason for e in layouts.read_errors(tmp_path / "out" / "export" / layouts.ERRORS)}
    assert reasons == {f"{hostile['id']} '/train/../../../escaped.mp4'":
                       "item name contains a '..' part, which would leave its folder"}
    assert summary.clips == 20 and not list(tmp_path.rglob("escaped*"))
    assert not any(path.endswith(f"/items/{hostile['id']}/stream") for _, path in dataloop_env.requests)


def test_with_a_clip_cache_an_export_downloads_only_new_or_changed_videos(dataloop_env, sample_dir, tmp_path):
    from movinet_pipeline.core.config import PipelineConfig
    from movinet_pipeline.core.examples.clip_cache import ClipCache, SamplingOptions
    from movinet_pipeline.core.examples.job import build_examples

    store = dataloop_env.store
    dataset = seed_dataset(store, dataloop_env.project["id"], "incremental", sample_dir)
    config = PipelineConfig(imgz=32, n_frames=4, record_frames=6, num_shards=1, cache_root=str(tmp_path / "cache"))
    cache = ClipCache(config.cache_root, SamplingOptions.from_config(config))

    def export_and_build(name: str) -> tuple[int, dict]:
        before = _video_streams(dataloop_env, dataset["id"])
        export_dataloop(dataset["id"], tmp_path / name / "export", cache=cache)
        stats = build_examples(tmp_path / name / "export", tmp_path / name / "examples", config,
                               ["--direct_running_mode=in_memory", "--direct_num_workers=1"])
        return _video_streams(dataloop_env, dataset["id"]) - before, stats

    downloads, stats = export_and_build("first")
    assert (downloads, stats["clips_encoded"], stats["clips_reused"]) == (20, 20, 0)
    export_dataloop(dataset["id"], tmp_path / "uncached")
    assert _manifest(tmp_path / "first" / "export") == _manifest(tmp_path / "uncached"), "same entries, no cache"
    downloads, stats = export_and_build("again")
    assert (downloads, stats["clips_encoded"], stats["clips_reused"]) == (0, 0, 20)
    assert not list((tmp_path / "again" / "export" / "items").rglob("*.mp4")), "no video was needed"

    videos = sorted((i for i in store.items.values() if i["datasetId"] == dataset["id"] and i["type"] == "file"),
                    key=lambda item: item["filename"])
    relabelled = next(a for a in store.annotations.values() if a["itemId"] == videos[0]["id"])
    relabelled["label"] = "up" if relabelled["label"] != "up" else "down"
    store.add_item(dataset["id"], videos[1]["filename"], store.blobs[videos[1]["id"]] + bytes(64), mode="overwrite")
    downloads, stats = export_and_build("changed")
    assert (downloads, stats["clips_encoded"], stats["clips_reused"]) == (1, 1, 19)
    labels = {e.item_id: e.label for e in layouts.read_manifest(tmp_path / "changed" / "export")}
    assert labels[videos[0]["id"]] == relabelled["label"]

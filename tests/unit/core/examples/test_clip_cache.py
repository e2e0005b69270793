"""The clip cache: entries keyed by content and sampling, whole or absent, and reused across builds."""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
from pathlib import Path

import pytest

from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.examples.clip_cache import CacheEntry, ClipCache, SamplingOptions, StoredClip
from movinet_pipeline.core.examples.job import build_examples
from movinet_pipeline.core.layouts import ManifestEntry
from movinet_pipeline.core.media.records import iter_tfrecords, parse_clip
from movinet_pipeline.core.sources.download_folder import export_local

CONFIG = PipelineConfig(imgz=32, n_frames=4, record_frames=6, num_shards=1)
SAMPLING = SamplingOptions.from_config(CONFIG)
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
ENTRY = ManifestEntry("i1", "items/train/a.mp4", "up", "train", 0, 23, 12.0, content_id="sha256:abc")


def test_an_entry_round_trips_and_a_damaged_one_is_a_miss(tmp_path, caplog):
    cache = ClipCache(str(tmp_path), SAMPLING)
    stored = CacheEntry([StoredClip([b"jpeg-1", b"jpeg-22"], [0, 5], 12.0), StoredClip([b"x" * 1000], [7], 0.0)])
    assert cache.load(ENTRY) is None and cache.missing([ENTRY]) == [ENTRY]
    cache.store(ENTRY, stored)
    assert cache.missing([ENTRY]) == [] and cache.load(ENTRY) == stored
    path = Path(cache.path(ENTRY))
    damaged = bytearray(path.read_bytes())
    damaged[20] ^= 0xFF
    path.write_bytes(bytes(damaged))
    with caplog.at_level(logging.WARNING):
        assert cache.load(ENTRY) is None
    assert "damaged clip cache entry" in caplog.text
    assert not list(path.parent.glob("*.tmp")), "no temporary file is left behind"


def test_the_key_follows_content_range_role_and_sampling(tmp_path):
    cache = ClipCache(str(tmp_path), SAMPLING)
    key = cache.key(ENTRY)
    assert cache.key(ManifestEntry(**{**ENTRY.__dict__, "label": "down"})) == key, "the label is not in the key"
    for change in ({"content_id": "sha256:abd"}, {"start_frame": 1}, {"end_frame": None}):
        assert cache.key(ManifestEntry(**{**ENTRY.__dict__, **change})) != key, change
    assert cache.key(ManifestEntry(**{**ENTRY.__dict__, "content_id": ""})) is None, "unknown content is not cached"
    stride = SamplingOptions.from_config(CONFIG.replace(sampling="stride", train_clips_per_video=2))
    stride_cache = ClipCache(str(tmp_path), stride)
    assert stride_cache.key(ENTRY) != stride_cache.key(ManifestEntry(**{**ENTRY.__dict__, "subset": "validation"}))
    folders = {ClipCache(str(tmp_path), SamplingOptions.from_config(CONFIG.replace(**change))).folder
               for change in ({}, {"jpeg_quality": 80}, {"imgz": 64}, {"record_frames": 8}, {"sampling": "stride"},
                              {"frame_step": 3})}
    assert len(folders) == 6, "every sampling option has its own folder"


def _write_once(path: str, payload: bytes, results) -> None:
    results.put(storage.write_once(path, payload))


def test_concurrent_writers_of_one_entry_leave_exactly_one_whole_entry(tmp_path):
    path = str(tmp_path / "ab" / "entry.clips")
    payloads = [bytes([n]) * 4_000_000 for n in range(6)]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    writers = [context.Process(target=_write_once, args=(path, payload, results)) for payload in payloads]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert sorted(results.get(timeout=5) for _ in writers) == [False] * 5 + [True]
    assert Path(path).read_bytes() in payloads
    assert sorted(p.name for p in (tmp_path / "ab").iterdir()) == ["entry.clips"]


def _records(examples: Path) -> dict[tuple[str, tuple[int, ...]], tuple[str, bytes]]:
    """(media id, frame numbers) -> (label, first frame) of every record written."""
    records = {}
    for subset in ("train", "validation"):
        for shard in layouts.Examples(str(examples)).record_files(subset):
            for raw in iter_tfrecords(shard):
                clip = parse_clip(raw)
                records[clip.media_id, tuple(clip.frame_indices)] = (clip.label_text, clip.jpeg_frames[0])
    return records


def _export_and_build(source: Path, out: Path, config: PipelineConfig) -> dict:
    cache = ClipCache(config.cache_root, SamplingOptions.from_config(config))
    export_local(source, out / "export", cache=cache)
    return build_examples(out / "export", out / "examples", config, IN_MEMORY)


def test_a_rebuild_encodes_only_what_changed(sample_dir, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(sample_dir, source)
    config = CONFIG.replace(cache_root=str(tmp_path / "cache"))
    first = _export_and_build(source, tmp_path / "1", config)
    assert first["clips_encoded"] == first["clips"] == 20 and first["clips_reused"] == 0
    again = _export_and_build(source, tmp_path / "2", config)
    assert again["clips_encoded"] == 0 and again["clips_reused"] == 20
    assert _records(tmp_path / "2" / "examples") == _records(tmp_path / "1" / "examples"), "same records, reused"

    # one label changed, one video replaced by another's bytes, one item deleted
    json_files = sorted((source / "json" / "train").glob("*.json"))
    relabelled = json.loads(json_files[0].read_text())
    new_label = next(label for label in ("down", "left", "right", "up")
                     if label != relabelled["annotations"][0]["label"])
    relabelled["annotations"][0]["label"] = new_label
    json_files[0].write_text(json.dumps(relabelled))
    replaced = json.loads(json_files[1].read_text())
    video_of = {path: (source / "items" / json.loads(path.read_text())["filename"].lstrip("/")).read_bytes()
                for path in json_files}
    donor = json.loads(next(path for path in json_files[2:] if video_of[path] != video_of[json_files[1]]
                            and video_of[path] != video_of[json_files[0]]).read_text())
    replaced_video = source / "items" / replaced["filename"].lstrip("/")
    replaced_video.unlink()  # new bytes (another video's, padded: never seen by the cache) that decode as the donor
    replaced_video.write_bytes((source / "items" / donor["filename"].lstrip("/")).read_bytes() + bytes(64))
    deleted = json.loads(json_files[3].read_text())
    json_files[3].unlink()
    changed = _export_and_build(source, tmp_path / "3", config)
    assert (changed["clips"], changed["clips_encoded"], changed["clips_reused"]) == (19, 1, 18)
    records = _records(tmp_path / "3" / "examples")
    assert {label for (media, _), (label, _) in records.items() if media == relabelled["id"]} == {new_label}
    assert not any(media == deleted["id"] for media, _ in records)
    donor_frames = {frame for (media, _), (_, frame) in records.items() if media == donor["id"]}
    assert {frame for (media, _), (_, frame) in records.items() if media == replaced["id"]} == donor_frames

    resampled = _export_and_build(source, tmp_path / "4", config.replace(jpeg_quality=70))
    assert resampled["clips_encoded"] == 19 and resampled["clips_reused"] == 0, "another sampling misses cleanly"


def test_an_undecodable_video_is_remembered_and_reported_without_reading_it_again(exported_dir, tmp_path):
    config = CONFIG.replace(cache_root=str(tmp_path / "cache"), max_skipped_fraction=1.0)
    export = tmp_path / "export"
    shutil.copytree(exported_dir, export)
    entries = list(layouts.read_manifest(export))
    entries = [ManifestEntry(**{**e.__dict__, "content_id": f"test:{e.item_id}"}) for e in entries]
    (export / entries[0].video).write_bytes(b"not a video")
    layouts.write_jsonl(export / layouts.MANIFEST, entries)
    first = build_examples(export, tmp_path / "1", config, IN_MEMORY)
    (export / entries[0].video).unlink()
    again = build_examples(export, tmp_path / "2", config, IN_MEMORY)
    assert first["skipped"] == again["skipped"] == 1 and again["clips_encoded"] == 0
    assert "remembered by the clip cache" in again["skipped_reasons"][0]["reason"]


@pytest.mark.slow
def test_a_gcs_cache_is_shared_by_builds(exported_dir, gcs_emulator, monkeypatch, tmp_path):
    from tests.conftest import GCS_BUCKET

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    config = CONFIG.replace(cache_root=f"gs://{GCS_BUCKET}/clip-cache")
    export = tmp_path / "export"
    export_local(exported_dir, export, cache=ClipCache(config.cache_root, SAMPLING))
    first = build_examples(export, tmp_path / "1", config, IN_MEMORY)
    again = build_examples(export, tmp_path / "2", config, IN_MEMORY)
    assert (first["clips_encoded"], again["clips_reused"], again["clips_encoded"]) == (20, 20, 0)
    assert _records(tmp_path / "1") == _records(tmp_path / "2")
    assert storage.exists(f"gs://{GCS_BUCKET}/clip-cache/clips/{SAMPLING.key}/sampling.json")


def test_the_sampling_keys_are_exactly_what_keys_the_cache():
    """config.SAMPLING_KEYS (what `export` takes to find cached clips) are the keys SamplingOptions reads."""
    from movinet_pipeline.core.config import SAMPLING_KEYS, PipelineConfig

    default = SamplingOptions.from_config(PipelineConfig()).key
    changes = {"n_frames": 8, "record_frames": 20, "imgz": 172, "record_short_side": 288, "sampling": "stride",
               "frame_step": 3, "jpeg_quality": 70, "train_clips_per_video": 2}
    assert set(changes) == set(SAMPLING_KEYS)
    for key, value in changes.items():
        base = {"sampling": "stride"} if key == "train_clips_per_video" else {}  # more clips need stride sampling
        assert (SamplingOptions.from_config(PipelineConfig(**base, **{key: value})).key
                != SamplingOptions.from_config(PipelineConfig(**base)).key), key
    others = PipelineConfig(model_id="a2", batch_size=4, num_epochs=3, learning_rate=0.01, conv_type="2plus1d",
                            top_k=5, cache_root="/cache", include_model_annotations=True, num_shards=2)
    assert SamplingOptions.from_config(others).key == default

import json
import shutil

import pytest

from movinet_pipeline.core import layouts
from movinet_pipeline.core.sources.download_folder import ExportError, export_local


def test_manifest_lists_every_clip_with_its_range_and_subset(exported_dir, sample_dir):
    entries = list(layouts.read_manifest(exported_dir))
    assert len(entries) == 4 * (3 + 2)
    assert {e.subset for e in entries} == {"train", "validation"}
    for entry in entries:
        assert (exported_dir / entry.video).is_file()
        assert entry.start_frame == 0 and entry.end_frame == 23 and entry.fps == 12.0
        assert entry.video.startswith(f"items/{entry.subset}/{entry.label}_")
    assert layouts.read_labels(exported_dir) == ["down", "left", "right", "up"]
    info = json.loads((exported_dir / layouts.EXPORT_INFO).read_text())
    assert len(info["export_fingerprint"]) == 64 and info["dataset_id"]


def _copy(sample_dir, tmp_path):
    target = tmp_path / "src"
    shutil.copytree(sample_dir, target)
    return target


def test_bad_items_are_reported_not_fatal(sample_dir, tmp_path):
    source = _copy(sample_dir, tmp_path)
    (source / "json" / "train" / "broken.json").write_text("{not json")
    unlabelled = json.loads((source / "json" / "train" / "up_000.json").read_text())
    unlabelled["annotations"] = []
    (source / "json" / "train" / "up_000.json").write_text(json.dumps(unlabelled))
    image = dict(unlabelled, filename="/train/photo.jpg")
    image["metadata"] = {"system": {"mimetype": "image/jpeg"}}
    (source / "json" / "train" / "photo.json").write_text(json.dumps(image))
    summary = export_local(source, tmp_path / "out")
    errors = {e.item: e.reason for e in layouts.read_errors(tmp_path / "out" / layouts.ERRORS)}
    assert summary.skipped == 3 and summary.clips == 4 * 5 - 1
    assert "unreadable item JSON" in errors["json/train/broken.json"]
    assert errors["/train/up_000.mp4"] == "no class annotation (unlabelled)"
    assert "not a video" in errors["/train/photo.jpg"]


def test_frame_range_annotations_become_clips_of_that_range(sample_dir, tmp_path):
    source = _copy(sample_dir, tmp_path)
    path = source / "json" / "train" / "up_001.json"
    item = json.loads(path.read_text())
    second = json.loads(json.dumps(item["annotations"][0]))
    item["annotations"][0]["metadata"]["system"].update(frame=0, endFrame=9)
    second["metadata"]["system"].update(frame=12, endFrame=20)
    item["annotations"].append(second)  # a second clip of the same label, later in the video
    path.write_text(json.dumps(item))
    export_local(source, tmp_path / "out")
    clips = [e for e in layouts.read_manifest(tmp_path / "out") if e.video == "items/train/up_001.mp4"]
    assert [(c.label, c.start_frame, c.end_frame) for c in clips] == [("up", 0, 9), ("up", 12, 20)]


def test_empty_validation_subset_is_a_clear_error(sample_dir, tmp_path):
    source = _copy(sample_dir, tmp_path)
    shutil.rmtree(source / "json" / "validation")
    with pytest.raises(ExportError, match="subset 'validation' has no labelled clip"):
        export_local(source, tmp_path / "out")


def test_not_a_download_folder(tmp_path):
    with pytest.raises(ExportError, match="not a Dataloop download folder"):
        export_local(tmp_path, tmp_path / "out")


def test_a_reversed_or_negative_frame_range_is_an_error_not_the_rest_of_the_video(sample_dir, tmp_path):
    source = _copy(sample_dir, tmp_path)
    for name, (start, end) in {"up_001": (20, 9), "up_002": (-3, 9)}.items():
        path = source / "json" / "train" / f"{name}.json"
        item = json.loads(path.read_text())
        item["annotations"][0]["metadata"]["system"].update(frame=start, endFrame=end)
        path.write_text(json.dumps(item))
    summary = export_local(source, tmp_path / "out")
    errors = {e.item: e.reason for e in layouts.read_errors(tmp_path / "out" / layouts.ERRORS)}
    assert "has frame range 20..9" in errors["/train/up_001.mp4"]
    assert "has frame range -3..9" in errors["/train/up_002.mp4"]
    assert summary.skipped == 2


def _with_model_guesses(source, guesses: int = 2):
    """Add `guesses` model-made class annotations (as the adapter uploads them) to every item."""
    for path in (source / "json").rglob("*.json"):
        item = json.loads(path.read_text())
        human = item["annotations"][0]
        for rank in range(guesses):
            guess = json.loads(json.dumps(human))
            guess["label"] = "left" if human["label"] != "left" else "right"
            guess["metadata"]["user"] = {"model": {"name": "movinet-a0-x", "model_id": "m1", "confidence": 0.4}}
            guess["id"] = f"{human.get('id', 'a')}-guess-{rank}"
            item["annotations"].append(guess)
        path.write_text(json.dumps(item))


def test_annotations_a_model_made_are_not_trained_on_unless_asked(sample_dir, tmp_path):
    source = _copy(sample_dir, tmp_path)
    _with_model_guesses(source)
    summary = export_local(source, tmp_path / "out")
    assert summary.clips == 20 and summary.model_annotations_excluded == 40 and summary.skipped == 0
    info = json.loads((tmp_path / "out" / layouts.EXPORT_INFO).read_text())
    assert info["model_annotations_excluded"] == 40
    reviewed = export_local(source, tmp_path / "reviewed", include_model_annotations=True)
    assert reviewed.clips == 60 and reviewed.model_annotations_excluded == 0


@pytest.mark.parametrize("filename, reason", [
    ("/../../outside.mp4", "'..' part"),
    ("/train/../../outside.mp4", "'..' part"),
    ("/train\\..\\..\\outside.mp4", "backslash"),
    ("/train/a\x00.mp4", "NUL"),
    ("/train/" + "x" * 300 + ".mp4", "longer than 255 bytes"),
    ("C:/train/a.mp4", "drive letter"),
    ("/", "empty"),
])
def test_an_item_name_that_would_leave_the_folder_is_dead_lettered(sample_dir, tmp_path, filename, reason):
    source = _copy(sample_dir, tmp_path)
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"secret bytes outside the source")
    path = source / "json" / "train" / "up_001.json"
    item = json.loads(path.read_text())
    item["filename"] = filename
    path.write_text(json.dumps(item))
    summary = export_local(source, tmp_path / "out" / "export")
    errors = [e for e in layouts.read_errors(tmp_path / "out" / "export" / layouts.ERRORS)]
    assert summary.skipped == 1 and reason in errors[0].reason and item["id"] in errors[0].item
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["export"]
    assert not any("outside" in str(p) for p in (tmp_path / "out").rglob("*"))

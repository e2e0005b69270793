import hashlib
import json

import numpy as np

from movinet_pipeline.core.media.sample_data import DIRECTIONS, SampleSpec, generate_sample_dataset, render_clip
from movinet_pipeline.core.media.video import read_clip


def _digest(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _centroid_track(frames: np.ndarray) -> np.ndarray:
    """(x, y) of the bright object per frame."""
    bright = frames.max(axis=-1) >= 150
    ys, xs = zip(*(np.nonzero(mask) for mask in bright))
    return np.array([(x.mean(), y.mean()) for x, y in zip(xs, ys)])


def test_generator_is_deterministic_by_seed(tmp_path):
    spec = SampleSpec(train_per_class=1, validation_per_class=1, seed=3)
    first = generate_sample_dataset(tmp_path / "a", spec)
    second = generate_sample_dataset(tmp_path / "b", spec)
    assert _digest(first) == _digest(second)
    other = generate_sample_dataset(tmp_path / "c", SampleSpec(train_per_class=1, validation_per_class=1, seed=4))
    assert _digest(first) != _digest(other)


def test_layout_is_dataloop_download_with_class_annotations(sample_dir):
    videos = sorted(sample_dir.glob("items/*/*.mp4"))
    assert {p.parent.name for p in videos} == {"train", "validation"}
    assert len(videos) == 4 * (3 + 2)
    for video in videos:
        item = json.loads((sample_dir / "json" / video.parent.name / f"{video.stem}.json").read_text())
        assert item["filename"] == f"/{video.parent.name}/{video.name}"
        assert item["metadata"]["system"]["mimetype"] == "video/mp4"
        assert item["metadata"]["system"]["size"] == video.stat().st_size
        (annotation,) = item["annotations"]
        assert annotation["type"] == "class" and annotation["label"] in DIRECTIONS
        assert video.name.startswith(annotation["label"])
        assert annotation["metadata"]["system"]["endFrame"] == item["metadata"]["system"]["nb_frames"] - 1


def test_videos_are_real_h264_that_decode_to_the_declared_frames(sample_dir):
    import av

    video = next(sample_dir.glob("items/train/*.mp4"))
    with av.open(str(video)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) == SampleSpec().frames


def test_the_object_moves_in_the_labelled_direction_in_the_encoded_video(sample_dir):
    for label, (dx, dy) in DIRECTIONS.items():
        video = sample_dir / "items" / "train" / f"{label}_000.mp4"
        clip = read_clip(str(video), 0, None, SampleSpec().frames, 72)
        track = _centroid_track(np.stack(clip.frames))
        motion = track[-1] - track[0]
        assert np.sign(np.round(motion / 10)).tolist() == [dx, dy], (label, motion)


def test_the_task_is_temporal_order_blind_features_cannot_tell_opposite_directions_apart():
    """A `left` clip played backwards is a valid `right` clip: the unordered set of frames carries the axis of
    motion but not its direction, so a frame-order-blind model is capped at 50% on the four classes.
    """
    spec = SampleSpec()
    reversed_left = _centroid_track(render_clip("left", spec, np.random.default_rng(1))[::-1])
    right = _centroid_track(render_clip("right", spec, np.random.default_rng(2)))
    # the same motion, frame by frame, as a clip rendered `right` (position aside): nothing but order tells them apart
    np.testing.assert_allclose(np.diff(reversed_left, axis=0), np.diff(right, axis=0), atol=1.0)
    assert (np.diff(reversed_left[:, 0]) > 0).all() and np.ptp(reversed_left[:, 1]) < 1.0

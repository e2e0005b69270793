"""Decoding across containers and codecs: the frames returned are exactly the requested ones."""

from pathlib import Path

import av
import numpy as np
import pytest

from movinet_pipeline.core.media.sample_data import SampleSpec, encode_video, render_clip
from movinet_pipeline.core.media.sampling import sample_indices
from movinet_pipeline.core.media.video import (
    INTERPOLATION,
    VideoDecodeError,
    index_stream,
    read_clip,
    resized_size,
)

SHORT_SIDE = 48


def _sequential(path: Path) -> list[np.ndarray]:
    frames = []
    with av.open(str(path)) as container:
        try:
            for frame in container.decode(video=0):
                width, height = resized_size(frame.width, frame.height, SHORT_SIDE)
                frames.append(frame.to_ndarray(width=width, height=height, format="rgb24", interpolation=INTERPOLATION))
        except av.FFmpegError:
            pass
    return frames


def _frames(count: int, seed: int = 0) -> np.ndarray:
    return render_clip("right", SampleSpec(frames=count), np.random.default_rng(seed))


FORMATS = {
    "h264.mp4": dict(codec="libx264"),
    "h264.mov": dict(codec="libx264"),
    "vp9.webm": dict(codec="libvpx-vp9"),
    "mpeg4.avi": dict(codec="mpeg4"),
    "msmpeg4v2.avi": dict(codec="msmpeg4v2"),
    "h264-sparse-keyframes.mp4": dict(codec="libx264", keyframe_interval=250),
    "h264-keyframe-every-5.mp4": dict(codec="libx264", keyframe_interval=5),
    "h264-vfr.mp4": dict(codec="libx264", timestamps_ms=[t * 83 + (t % 3) * 17 + (t // 10) * 40 for t in range(60)]),
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("formats")
    paths = {}
    for name, options in FORMATS.items():
        path = root / f"clip.{name}"
        encode_video(_frames(60), path, fps=12, **options)
        paths[name] = path
    return paths


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("start, end, count, sampling, step", [(0, None, 8, "uniform", 1), (7, 52, 13, "uniform", 1),
                                                              (30, None, 6, "stride", 4), (0, 59, 3, "uniform", 1)])
def test_frames_match_a_full_sequential_decode(videos, name, start, end, count, sampling, step):
    reference = _sequential(videos[name])
    assert len(reference) == 60
    clip = read_clip(str(videos[name]), start, end, count, SHORT_SIDE, sampling, step)
    assert clip.frame_indices == sample_indices(start, 59 if end is None else end, count, sampling, step)
    for number, frame in zip(clip.frame_indices, clip.frames):
        np.testing.assert_array_equal(frame, reference[number], err_msg=f"{name} frame {number}")


def test_the_index_sees_real_frames_and_keyframes(videos):
    with av.open(str(videos["h264-keyframe-every-5.mp4"])) as container:
        index = index_stream(container, container.streams.video[0])
    assert index.frames == 60 and index.keyframes[:3] == [0, 5, 10]
    with av.open(str(videos["h264-sparse-keyframes.mp4"])) as container:
        assert index_stream(container, container.streams.video[0]).keyframes == [0]


def test_truncated_video_samples_only_frames_that_really_decode(videos, tmp_path):
    truncated = tmp_path / "truncated.webm"
    data = videos["vp9.webm"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    reference = _sequential(truncated)
    assert 5 < len(reference) < 60
    clip = read_clip(str(truncated), 0, 59, 8, SHORT_SIDE)  # the annotation claims 60 frames
    assert max(clip.frame_indices) <= len(reference) - 1
    for number, frame in zip(clip.frame_indices, clip.frames):
        np.testing.assert_array_equal(frame, reference[number])


def test_short_clip_repeats_real_frames_instead_of_padding_black(videos, tmp_path):
    short = tmp_path / "short.mp4"
    encode_video(_frames(3), short, fps=12)
    clip = read_clip(str(short), 0, None, 8, SHORT_SIDE)
    assert sorted(set(clip.frame_indices)) == [0, 1, 2]
    assert all(frame.max() > 100 for frame in clip.frames)  # the bright object is in every frame


def test_clip_starting_after_the_end_is_a_readable_error(videos):
    with pytest.raises(VideoDecodeError, match="clip starts at frame 70 but the video has only 60 frames"):
        read_clip(str(videos["h264.mp4"]), 70, None, 4, SHORT_SIDE)


def test_far_targets_seek_past_frames_that_are_not_needed(videos, monkeypatch):
    from movinet_pipeline.core.media import video

    decoded = []
    original = video._FrameReader._number
    monkeypatch.setattr(video._FrameReader, "_number", lambda self, frame: decoded.append(1) or original(self, frame))
    clip = read_clip(str(videos["h264-keyframe-every-5.mp4"]), 0, None, 3, SHORT_SIDE)
    assert clip.frame_indices == [0, 30, 59]
    assert len(decoded) < 15  # keyframes at 0, 30, 55: about 1 + 1 + 5 frames, not 60
    decoded.clear()
    read_clip(str(videos["h264-sparse-keyframes.mp4"]), 0, None, 3, SHORT_SIDE)
    assert len(decoded) == 60  # one keyframe: decoding forward is the only way


def test_stride_sampling_takes_several_distinct_clips_per_video_in_one_decode(videos):
    from movinet_pipeline.core.media.video import read_clips

    reference = _sequential(videos["vp9.webm"])
    clips = read_clips(str(videos["vp9.webm"]), 0, None, 6, SHORT_SIDE, "stride", 4, clips=3)
    assert [c.frame_indices[0] for c in clips] == [0, 20, 39]
    for clip in clips:
        for number, frame in zip(clip.frame_indices, clip.frames):
            np.testing.assert_array_equal(frame, reference[number])


@pytest.mark.parametrize("name", ["h264.mp4", "vp9.webm", "mpeg4.avi"])
def test_dense_sampling_decodes_once_without_the_index_pass(videos, name, monkeypatch):
    """24 of 60 frames: decoding everything once is cheaper than demuxing an index and seeking."""
    from movinet_pipeline.core.media import video

    calls = []
    monkeypatch.setattr(video, "index_stream", lambda *args: calls.append(args) or None)
    clip = read_clip(str(videos[name]), 0, None, 24, SHORT_SIDE)
    assert calls == [] and clip.frame_indices == sample_indices(0, 59, 24)
    reference = _sequential(videos[name])
    for number, frame in zip(clip.frame_indices, clip.frames):
        np.testing.assert_array_equal(frame, reference[number])


def test_jpeg_frames_are_byte_identical_each_time_and_close_to_the_rgb_path(videos):
    """Odd-sized 4:2:0 planes made libjpeg-turbo read past them (bytes varied run to run): sides are rounded even."""
    import io

    from PIL import Image

    from movinet_pipeline.core.media.video import jpeg_converter

    with av.open(str(videos["h264.mp4"])) as container:
        frame = next(container.decode(video=0))
    convert = jpeg_converter(55, 90)  # an odd short side
    first = convert(frame)
    assert all(convert(frame) == first for _ in range(5))
    decoded = np.asarray(Image.open(io.BytesIO(first)).convert("RGB"), np.int16)
    assert decoded.shape[0] % 2 == 0 and decoded.shape[1] % 2 == 0 and min(decoded.shape[:2]) == 56
    rgb = frame.to_ndarray(width=decoded.shape[1], height=decoded.shape[0], format="rgb24",
                           interpolation=INTERPOLATION).astype(np.int16)
    assert np.abs(decoded - rgb).mean() < 4  # the same picture; JPEG and chroma subsampling only


def test_a_dense_read_with_a_wrong_header_replans_over_the_frames_that_decode(videos, monkeypatch):
    from movinet_pipeline.core.media import video

    monkeypatch.setattr(video, "_header_frames", lambda *args: 66)  # 60 decode
    clip = read_clip(str(videos["h264.mp4"]), 0, None, 24, SHORT_SIDE)
    assert clip.frame_indices == sample_indices(0, 59, 24)
    reference = _sequential(videos["h264.mp4"])
    for number, frame in zip(clip.frame_indices, clip.frames):
        np.testing.assert_array_equal(frame, reference[number])

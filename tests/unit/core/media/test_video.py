import av
import numpy as np
import pytest

from movinet_pipeline.core.media.sampling import sample_indices
from movinet_pipeline.core.media.video import INTERPOLATION, VideoDecodeError, read_clip, resized_size


def _all_frames(path, short_side):
    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            width, height = resized_size(frame.width, frame.height, short_side)
            frames.append(frame.to_ndarray(width=width, height=height, format="rgb24", interpolation=INTERPOLATION))
    return frames


def test_resize_keeps_aspect_with_short_side():
    assert resized_size(96, 72, 36) == (48, 36)
    assert resized_size(72, 96, 36) == (36, 48)


@pytest.mark.parametrize("start, end, count, sampling, step", [(0, 23, 8, "uniform", 1), (3, 17, 5, "uniform", 1),
                                                              (1, None, 6, "stride", 3)])
def test_returned_frames_are_exactly_the_requested_frames(sample_dir, start, end, count, sampling, step):
    video = next(sample_dir.glob("items/train/right_*.mp4"))
    clip = read_clip(str(video), start, end, count, 36, sampling, step)
    reference = _all_frames(video, 36)
    assert clip.frame_indices == sample_indices(start, end if end is not None else start + (count - 1) * step,
                                                count, sampling, step)
    for index, frame in zip(clip.frame_indices, clip.frames):
        np.testing.assert_array_equal(frame, reference[index])
    assert clip.frames[0].shape == (36, 48, 3)
    assert clip.fps == pytest.approx(12.0)


def test_header_claiming_more_frames_than_decode_is_replanned(sample_dir):
    video = next(sample_dir.glob("items/train/left_*.mp4"))
    clip = read_clip(str(video), 0, 443, 8, 36)  # the annotation claims 444 frames; 24 decode
    assert max(clip.frame_indices) == 23 and len(clip.frames) == 8
    assert clip.frame_indices == sample_indices(0, 23, 8)


def test_broken_files_raise_a_readable_error(tmp_path, sample_dir):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    for path in (empty, text):
        with pytest.raises(VideoDecodeError):
            read_clip(str(path), 0, None, 4, 36)

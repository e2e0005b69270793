"""The frame-sampling planner: which source frames a clip stores (stage one of two; see sampling.py)."""

import pytest

from movinet_pipeline.core.media.sampling import SamplingError, clip_windows, plan_clip_windows, sample_indices


def test_uniform_and_stride_indices():
    assert sample_indices(0, 23, 4) == [0, 8, 15, 23]
    assert sample_indices(5, 5, 3) == [5, 5, 5]
    assert sample_indices(2, 20, 4, "stride", 3) == [2, 5, 8, 11]
    assert sample_indices(0, 4, 4, "stride", 2) == [0, 2, 4, 4]
    with pytest.raises(ValueError, match="unknown sampling"):
        sample_indices(0, 4, 2, "random")


def test_stride_sampling_spreads_distinct_windows_over_the_clip():
    assert clip_windows(0, 59, 6, "stride", 4, 3) == [[0, 4, 8, 12, 16, 20], [20, 24, 28, 32, 36, 40],
                                                      [39, 43, 47, 51, 55, 59]]
    assert clip_windows(0, 10, 6, "stride", 2, 4) == [[0, 2, 4, 6, 8, 10]]  # no room: one window, not duplicates
    assert clip_windows(0, 59, 6, "uniform", 4, 3) == [[0, 12, 24, 35, 47, 59]]  # uniform: always one clip


def test_a_plan_is_bounded_by_the_frames_the_video_really_holds():
    assert plan_clip_windows(30, 0, None, 4) == [[0, 10, 19, 29]]  # to the end of the video
    assert plan_clip_windows(30, 5, 100, 3) == [[5, 17, 29]]  # an end past the video stops at its last frame
    assert plan_clip_windows(None, 0, 9, 4) == [[0, 3, 6, 9]]  # unknown length: the annotation's end
    assert plan_clip_windows(None, 0, None, 2, "stride", 3) == [[0, 3]]  # unknown length and end: stride from start
    with pytest.raises(SamplingError, match="starts at frame 40 but the video has only 30 frames"):
        plan_clip_windows(30, 40, None, 4)

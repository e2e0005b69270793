"""The frame-sampling planner: which source frames a clip stores. Pure arithmetic, no decoding.

Frames are sampled in two stages:

1. **At build time** (build_tfrecords, and prediction's input path): `record_frames` frames per clip
   (config `frames_per_record`, default 2 x `n_frames`) are planned here over the clip's frame range and stored as
   JPEGs, `uniform` (spread evenly) or `stride` (every `frame_step`-th frame); with `stride` sampling a training
   video can give `train_clips_per_video` distinct windows, decoded once.
2. **At read time** (`core.model.input_pipeline`): `n_frames` of the stored frames are chosen, evenly strided: a
   random window in training (temporal jitter), the centre window in evaluation, or `eval_clips` windows spread over
   the stored frames for multi-clip evaluation.

So `n_frames` can change without rebuilding the records, as long as `record_frames` >= `n_frames`.

Frame numbers are 0-based positions in decode order over the frames that really decode (headers can lie; the
decoder in `video.py` plans with the real count and re-plans when a stream ends early).
"""

from __future__ import annotations

import numpy as np

# With no known frame count and no end frame, plan as if the clip were this many sampling spans long.
UNKNOWN_LENGTH_SPANS = 64


class SamplingError(ValueError):
    """A clip cannot be planned over the frames available; the message says why."""


def sample_indices(start: int, end: int, count: int, sampling: str = "uniform", frame_step: int = 1) -> list[int]:
    """Frame numbers to take from the inclusive range [start, end].

    `uniform` spreads `count` frames evenly over the range; `stride` takes every `frame_step`-th frame from `start`.
    A range shorter than needed repeats frames (the last one for stride) rather than inventing black ones.
    """
    if end < start:
        raise ValueError(f"empty frame range {start}..{end}")
    if sampling == "uniform":
        return [int(i) for i in np.round(np.linspace(start, end, count)).astype(int)]
    if sampling == "stride":
        return [min(start + i * frame_step, end) for i in range(count)]
    raise ValueError(f"unknown sampling {sampling!r}; allowed: uniform, stride")


def clip_windows(start: int, last: int, count: int, sampling: str, frame_step: int, clips: int) -> list[list[int]]:
    """Frame numbers of each clip (window) taken from [start, last].

    Frame numbers of each clip taken from [start, last]: one clip, or for `stride` sampling up to `clips`
    distinct windows spread evenly over the range (temporal augmentation).
    """
    if clips == 1 or sampling != "stride":
        return [sample_indices(start, last, count, sampling, frame_step)]
    free = max(0, last - start - (count - 1) * frame_step)
    starts = sorted({start + round(free * i / (clips - 1)) for i in range(clips)})
    return [sample_indices(s, last, count, sampling, frame_step) for s in starts]


def plan_clip_windows(frames: int | None, start: int, end: int | None, count: int, sampling: str = "uniform",
                      frame_step: int = 1, clips: int = 1) -> list[list[int]]:
    """Plan the windows of a clip over the frames a video holds.

    The windows of a clip over [start, end] (end inclusive; None = to the end of the video) of a video that
    holds `frames` frames (None when not known yet: then the range is bounded by `end` or a generous guess).
    """
    last = end if end is not None else (frames - 1 if frames else start + count * max(1, frame_step) *
                                        UNKNOWN_LENGTH_SPANS)
    if frames is not None:
        if start >= frames:
            raise SamplingError(f"clip starts at frame {start} but the video has only {frames} frames")
        last = min(last, frames - 1)
    return clip_windows(start, last, count, sampling, frame_step, clips)

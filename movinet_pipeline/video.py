"""Decode, sample and resize video frames with FFmpeg (PyAV). Shared by build_tfrecords and prediction.

Frame numbers are 0-based positions in decode (presentation) order: frame `i` is the i-th frame that really
decodes, whatever the container header claims.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image


class VideoDecodeError(RuntimeError):
    """A video could not be opened or decoded; the message says why in plain words."""


@dataclass(frozen=True)
class DecodedClip:
    """Frames sampled from one clip, with the source frame number of each."""

    frames: list[np.ndarray]  # RGB uint8 [H, W, 3], resized
    frame_indices: list[int]
    fps: float


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


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) scaled so that the short side equals `short_side`, keeping aspect."""
    scale = short_side / min(width, height)
    if width <= height:
        return short_side, max(short_side, round(height * scale))
    return max(short_side, round(width * scale)), short_side


def _open(path: str) -> av.container.InputContainer:
    try:
        container = av.open(path)
    except av.FFmpegError as error:
        raise VideoDecodeError(f"cannot open as video: {error}") from error
    if not container.streams.video:
        container.close()
        raise VideoDecodeError("file has no video stream")
    return container


def _decode_targets(path: str, targets: list[int], short_side: int) -> tuple[dict[int, np.ndarray], int, float]:
    """Decode sequentially up to the last target. Returns the frames found, the frames decoded, and the fps."""
    wanted = set(targets)
    last = max(targets)
    found: dict[int, np.ndarray] = {}
    decoded = 0
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        try:
            for frame in container.decode(stream):
                if decoded in wanted:
                    width, height = resized_size(frame.width, frame.height, short_side)
                    found[decoded] = frame.to_ndarray(
                        width=width, height=height, format="rgb24", interpolation="AREA"
                    )
                decoded += 1
                if decoded > last:
                    break
        except av.FFmpegError as error:
            if decoded == 0:
                raise VideoDecodeError(f"no frame decodes: {error}") from error
            # A truncated tail: keep the frames that did decode.
    if decoded == 0:
        raise VideoDecodeError("the video holds no decodable frame")
    return found, decoded, fps


def read_clip(
    path: str,
    start: int,
    end: int | None,
    count: int,
    short_side: int,
    sampling: str = "uniform",
    frame_step: int = 1,
) -> DecodedClip:
    """Sample `count` frames from frames [start, end] (end inclusive; None = to the end) of the video at `path`.

    Headers can lie about the frame count, so when the video ends before the planned frames the clip is
    re-planned over the frames that really decoded.
    """
    planned_end = end if end is not None else start + max(count * frame_step, count) * 64
    targets = sample_indices(start, planned_end, count, sampling, frame_step)
    found, decoded, fps = _decode_targets(path, targets, short_side)
    if len(found) < len(set(targets)):
        real_end = decoded - 1
        if real_end < start:
            raise VideoDecodeError(f"clip starts at frame {start} but the video has only {decoded} frames")
        targets = sample_indices(start, real_end, count, sampling, frame_step)
        found, decoded, fps = _decode_targets(path, targets, short_side)
        if len(found) < len(set(targets)):
            raise VideoDecodeError(f"decoding stopped after {decoded} frames on a second pass")
    return DecodedClip(frames=[found[i] for i in targets], frame_indices=targets, fps=fps)


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()

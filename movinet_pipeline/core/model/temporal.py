"""Temporal predictions: labels over frame ranges of a long video, from back-to-back windows.

A video is cut into windows of `segment_seconds`; each window is sampled to `n_frames` frames, evenly spread as
training samples a clip, and classified: in base mode a window is one clip (windows batched `batch_size` at a time),
in stream mode its frames are fed one by one, the states carried from frame to frame and started afresh with
each window (as each training clip started), which keeps a live feed's work per frame constant. Contiguous
windows with the same top label make one segment, its confidence the mean probability of that label over its
windows; segments shorter than `min_segment_seconds` join the neighbour their windows found likelier.

Memory stays bounded on any length: the video is decoded front to back, only the sampled frames are converted,
and at most one window (base: one batch of windows) of frames is held.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.media.sampling import sample_indices
from movinet_pipeline.core.media.video import FrameStream, jpeg_converter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """A window's frame range (inclusive) and its `n_frames` sampled frames (JPEG bytes, as the records store)."""

    first_frame: int
    last_frame: int
    frames: list


@dataclass(frozen=True)
class ScoredWindow:
    """A window's frame range and its class probabilities."""

    first_frame: int
    last_frame: int
    probabilities: np.ndarray


@dataclass(frozen=True)
class Segment:
    """A run of frames with one label."""

    label: str
    confidence: float
    first_frame: int
    last_frame: int


def window_length(fps: float, seconds: float) -> int:
    """Frames per window of `seconds` at `fps` (at least one)."""
    return max(1, round(seconds * fps))


def planned_positions(window: int, length: int, n_frames: int) -> list[int]:
    """The frame numbers window number `window` samples (uniform over its `length` frames, as training's clips)."""
    first = window * length
    return sample_indices(first, first + length - 1, n_frames, "uniform")


def _resampled(frames: list, n_frames: int) -> list:
    """`frames` spread evenly over `n_frames` positions (frames repeat when there are fewer)."""
    return [frames[int(i)] for i in np.round(np.linspace(0, len(frames) - 1, n_frames)).astype(int)]


def sampled_windows(frames: Iterable[tuple[int, object | None]], length: int, n_frames: int) -> Iterator[Window]:
    """Windows from a front-to-back stream of (frame number, sampled frame or None), one window held at a time.

    The last window, cut short by the end of the video, is sampled from the frames it has; when it is shorter than
    half a window it joins the window before instead (too little to classify on its own).
    """
    pending: Window | None = None
    current, collected, last = -1, {}, -1

    def close() -> Window:
        planned = [p for p in planned_positions(current, length, n_frames) if p <= last]
        if last == current * length + length - 1:
            taken = [collected[p] for p in planned]
        else:
            taken = _resampled([collected[p] for p in sorted(set(planned))], n_frames)
        return Window(current * length, last, taken)

    for number, frame in frames:
        if number // length != current:
            if current >= 0:
                if pending is not None:
                    yield pending
                pending = close()
            current, collected = number // length, {}
        if frame is not None:
            collected[number] = frame
        last = number
    if current < 0:
        return
    stub = last - current * length + 1 < length / 2
    if pending is not None and stub:
        yield dataclasses.replace(pending, last_frame=last)
        return
    if pending is not None:
        yield pending
    yield close()


def wanted_frames(length: int, n_frames: int) -> Callable[[int], bool]:
    """Whether a frame number is one its window samples (the positions of the current window cached)."""
    cache: dict[int, frozenset[int]] = {}

    def wanted(number: int) -> bool:
        window = number // length
        if window not in cache:
            cache.clear()
            cache[window] = frozenset(planned_positions(window, length, n_frames))
        return number in cache[window]

    return wanted


def video_windows(path: str, config: PipelineConfig) -> tuple[float, Iterator[Window]]:
    """The video's frame rate and its windows (JPEG frames at the records' size and quality), decoded lazily."""
    stream = FrameStream(path)
    length = window_length(stream.fps, config.segment_seconds)

    def windows() -> Iterator[Window]:
        with stream:
            yield from sampled_windows(stream.frames(wanted_frames(length, config.n_frames),
                                                     jpeg_converter(config.short_side, config.jpeg_quality)),
                                       length, config.n_frames)

    return stream.fps, windows()


def window_clip(window: Window, imgz: int) -> tf.Tensor:
    """A window's frames as evaluation reads a clip: float32 [n_frames, imgz, imgz, 3], centre-cropped."""
    from movinet_pipeline.core.model.input_pipeline import crop_frames

    return crop_frames(tf.constant(window.frames), imgz)


def _batches(windows: Iterator[Window], size: int) -> Iterator[list[Window]]:
    batch: list[Window] = []
    for window in windows:
        batch.append(window)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def window_scores(model, windows: Iterator[Window], imgz: int, batch_size: int,
                  rescale: Callable[[np.ndarray], np.ndarray]) -> Iterator[ScoredWindow]:
    """Each window classified as one clip, `batch_size` windows at a time; `rescale` maps the probabilities.

    `model.probabilities(clips [B, T, H, W, 3])`: a base model's, or a stream model's, which feeds each clip frame by
    frame from the initial states (`FrameByFrameModel`). Starting each window afresh, as every training clip
    started, is measured: carrying the causal convolutions' buffers into the next window (restarting only the
    running means) mislabelled 2 of 6 windows of the test video, whose model never saw a clip begin with another
    clip's frames in its buffers.
    """
    for batch in _batches(windows, batch_size):
        probabilities = rescale(model.probabilities(tf.stack([window_clip(window, imgz) for window in batch])))
        for window, p in zip(batch, probabilities):
            yield ScoredWindow(window.first_frame, window.last_frame, np.asarray(p))


@dataclass
class _Run:
    label: int
    first: int
    last: int
    sums: np.ndarray  # summed window probabilities
    windows: int

    def joined(self, other: _Run, label: int) -> _Run:
        return _Run(label, min(self.first, other.first), max(self.last, other.last), self.sums + other.sums,
                    self.windows + other.windows)


def _coalesced(runs: list[_Run]) -> list[_Run]:
    """Neighbouring runs with the same label joined."""
    out: list[_Run] = []
    for run in runs:
        if out and out[-1].label == run.label:
            out[-1] = out[-1].joined(run, run.label)
        else:
            out.append(run)
    return out


def segments(scored: Iterable[ScoredWindow], labels: list[str], min_frames: int = 0) -> list[Segment]:
    """Contiguous windows with the same top label as one segment each; runs shorter than `min_frames` joined.

    The shortest short run goes first, into the neighbour whose label its windows gave more probability; the
    segment's confidence is the mean probability of its label over its windows.
    """
    runs = _coalesced([_Run(int(np.argmax(w.probabilities)), w.first_frame, w.last_frame,
                            np.asarray(w.probabilities, np.float64), 1) for w in scored])
    while len(runs) > 1:
        short = [i for i, run in enumerate(runs) if run.last - run.first + 1 < min_frames]
        if not short:
            break
        i = min(short, key=lambda k: (runs[k].last - runs[k].first, k))
        j = max((k for k in (i - 1, i + 1) if 0 <= k < len(runs)), key=lambda k: runs[i].sums[runs[k].label])
        runs[min(i, j)] = runs[i].joined(runs[j], runs[j].label)
        del runs[max(i, j)]
        runs = _coalesced(runs)
    return [Segment(labels[run.label], float(run.sums[run.label] / run.windows), run.first, run.last)
            for run in runs]


def predict_segments(model, path: str, config: PipelineConfig,
                     rescale: Callable[[np.ndarray], np.ndarray] = lambda p: p) -> list[Segment]:
    """The labelled segments of the video at `path` (see the module docstring).

    `model` is a base model or a stream model (`FrameByFrameModel`); `rescale` maps window probabilities
    (temperature scaling). Raises VideoDecodeError / OSError when the video cannot be read.
    """
    fps, windows = video_windows(path, config)
    scored = window_scores(model, windows, config.imgz, config.batch_size, rescale)
    found = segments(scored, model.labels, round(config.min_segment_seconds * fps))
    log.info("%s: %d segment(s) from %.1f s windows at %.2f fps", path, len(found), config.segment_seconds, fps)
    return found

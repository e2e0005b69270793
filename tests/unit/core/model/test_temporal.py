"""Temporal predictions: windows streamed from a long video with bounded buffering, and segments from windows."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from movinet_pipeline.core.config import ConfigError, resolve_config
from movinet_pipeline.core.media.sample_data import encode_video
from movinet_pipeline.core.model.inference import BaseModel, FrameByFrameModel
from movinet_pipeline.core.model.temporal import (
    ScoredWindow,
    planned_positions,
    predict_segments,
    sampled_windows,
    segments,
)

LABELS = ["red", "blue"]
FPS = 10


def _scored(*tops: tuple[int, float], length: int = 10) -> list[ScoredWindow]:
    """Windows of `length` frames whose top label index and its probability are given."""
    out = []
    for number, (top, p) in enumerate(tops):
        probabilities = np.full(2, 1 - p)
        probabilities[top] = p
        out.append(ScoredWindow(number * length, number * length + length - 1, probabilities))
    return out


def test_contiguous_windows_with_one_top_label_make_one_segment_with_their_mean_confidence():
    found = segments(_scored((0, 0.9), (0, 0.7), (1, 0.8), (0, 0.6)), LABELS)
    assert [(s.label, s.first_frame, s.last_frame) for s in found] == [("red", 0, 19), ("blue", 20, 29),
                                                                      ("red", 30, 39)]
    assert found[0].confidence == pytest.approx(0.8)


def test_a_run_shorter_than_the_minimum_joins_the_neighbour_its_windows_found_likelier():
    windows = _scored((0, 0.9), (0, 0.9), (1, 0.55), (0, 0.9), (1, 0.9), (1, 0.9))
    found = segments(windows, LABELS, min_frames=15)
    # the lone "blue" window joins the red run around it; the single red window after it then sits between a
    # (now long) red run and a blue one, and is long enough to stand only as part of the red run
    assert [(s.label, s.first_frame, s.last_frame) for s in found] == [("red", 0, 39), ("blue", 40, 59)]
    assert found[0].confidence == pytest.approx((0.9 * 3 + 0.45) / 4)
    assert len(segments(windows, LABELS, min_frames=1000)) == 1  # everything short: one segment in the end


def test_windows_are_built_while_the_video_streams_holding_one_window_at_a_time():
    length, n_frames, total = 12, 4, 100
    consumed = []

    def frames():
        wanted = {p for w in range(total // length + 1) for p in planned_positions(w, length, n_frames)}
        for number in range(total):
            consumed.append(number)
            yield number, f"frame{number}" if number in wanted else None

    windows = []
    for window in sampled_windows(frames(), length, n_frames):
        windows.append(window)
        # a window is handed on once the next one has started: never more than two windows of frames read ahead
        assert len(consumed) <= window.last_frame + 1 + 2 * length
    assert [(w.first_frame, w.last_frame) for w in windows][:2] == [(0, 11), (12, 23)]
    assert windows[0].frames == [f"frame{p}" for p in planned_positions(0, length, n_frames)]
    # 100 frames: 8 full windows and a 4-frame tail (under half a window) that joins the window before
    assert len(windows) == 8 and windows[-1].last_frame == total - 1
    assert all(len(w.frames) == n_frames for w in windows)


def test_a_tail_of_at_least_half_a_window_is_a_window_of_its_own_sampled_from_its_frames():
    frames = ((n, f"frame{n}") for n in range(18))  # every frame offered
    windows = list(sampled_windows(frames, 12, 4))
    assert [(w.first_frame, w.last_frame) for w in windows] == [(0, 11), (12, 17)]
    assert set(windows[1].frames) <= {f"frame{n}" for n in range(12, 18)} and len(windows[1].frames) == 4


def _colour_video(tmp_path, spans: list[tuple[str, int]]):
    colours = {"red": (220, 20, 20), "blue": (20, 20, 220)}
    frames = np.concatenate([np.broadcast_to(np.array(colours[c], np.uint8), (count, 64, 80, 3))
                             for c, count in spans])
    path = tmp_path / "long.mp4"
    encode_video(np.ascontiguousarray(frames), path, FPS)
    return path


def _colour_logits(clips: tf.Tensor) -> tf.Tensor:
    """Logits of a 'model' that tells red from blue by the mean colour: [..., T, H, W, 3] -> [..., 2]."""
    mean = tf.reduce_mean(clips, axis=[-4, -3, -2])
    return 20.0 * tf.stack([mean[..., 0] - mean[..., 2], mean[..., 2] - mean[..., 0]], axis=-1)


class _ColourStream(FrameByFrameModel):
    """A stream 'model': its states average the colours of the frames it was fed and count them."""

    labels, source = LABELS, "colour stream"

    def initial_states(self, frame_shape):
        return {"sum": np.zeros(3), "count": 0, "frames": 0}

    def step(self, states, frame):
        total = states["sum"] + np.asarray(tf.reduce_mean(frame, axis=[0, 1, 2, 3]))
        count = states["count"] + 1
        mean = total / count
        logits = 20.0 * np.array([[mean[0] - mean[2], mean[2] - mean[0]]])
        self.frames_seen = states["frames"] + 1
        return logits, {"sum": total, "count": count, "frames": self.frames_seen}


@pytest.mark.parametrize("mode", ["base", "stream"])
def test_a_long_video_gets_one_segment_per_colour_run_and_a_short_flash_joins_its_neighbours(tmp_path, mode):
    # 4 s red, 0.8 s blue (a flash: its one window is under the 1.5 s minimum), 3.2 s red, 4.3 s blue (its last
    # 0.3 s too short for a window of its own)
    path = _colour_video(tmp_path, [("red", 40), ("blue", 8), ("red", 32), ("blue", 43)])
    config = resolve_config(None, None, {"imgz": 32, "n_frames": 4, "segment_seconds": 1.0,
                                         "min_segment_seconds": 1.5, "batch_size": 3})
    model = (BaseModel(lambda clips: tf.nn.softmax(_colour_logits(clips)), LABELS, "colour", len(LABELS))
             if mode == "base" else _ColourStream())
    found = predict_segments(model, str(path), config)
    assert [(s.label, s.first_frame, s.last_frame) for s in found] == [("red", 0, 79), ("blue", 80, 122)]
    assert all(0.5 < s.confidence <= 1 for s in found)
    if mode == "stream":
        # states carried from frame to frame within a window (4 frames), fresh at each window
        assert model.frames_seen == 4
    no_minimum = predict_segments(model, str(path), config.replace(min_segment_seconds=0.0))
    assert [(s.label, s.first_frame, s.last_frame) for s in no_minimum] == [
        ("red", 0, 39), ("blue", 40, 49), ("red", 50, 79), ("blue", 80, 122)]


def test_a_minimum_segment_needs_segment_seconds():
    with pytest.raises(ConfigError, match="min_segment_seconds"):
        resolve_config(None, None, {"min_segment_seconds": 2.0})


def test_a_video_that_does_not_decode_raises_a_decode_error_naming_why(tmp_path):
    from movinet_pipeline.core.media.video import VideoDecodeError

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00 ftypisom" + b"x" * 500)
    config = resolve_config(None, None, {"imgz": 32, "n_frames": 4, "segment_seconds": 1.0})
    model = BaseModel(lambda clips: tf.nn.softmax(_colour_logits(clips)), LABELS, "colour", len(LABELS))
    with pytest.raises(VideoDecodeError, match="cannot open as video|no frame decodes|no decodable frame"):
        predict_segments(model, str(broken), config)

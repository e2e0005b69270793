"""The report's gallery of misclassified clips: their sampled frames, true vs predicted label, confidence."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from movinet_pipeline.core.model.calibration import window_probabilities

FRAMES_SHOWN = 4


@dataclass(frozen=True)
class Misclassified:
    """One clip the model got wrong."""

    media_id: str
    truth: str
    predicted: str
    confidence: float
    strip: bytes  # JPEG: FRAMES_SHOWN of the frames the model saw, side by side


def _strip(frames: np.ndarray) -> bytes:
    """A JPEG of `FRAMES_SHOWN` evenly spaced frames of a clip [T, H, W, 3] in [0, 1], side by side."""
    picks = np.linspace(0, len(frames) - 1, min(FRAMES_SHOWN, len(frames))).round().astype(int)
    side_by_side = np.concatenate([frames[i] for i in picks], axis=1)
    return tf.io.encode_jpeg(tf.cast(tf.clip_by_value(side_by_side, 0.0, 1.0) * 255, tf.uint8), quality=85).numpy()


class Gallery:
    """Keeps the `limit` most confident mistakes seen while scoring (frames of the first window of each clip)."""

    def __init__(self, labels: list[str], limit: int = 12, temperature: float = 1.0) -> None:
        self.labels, self.limit, self.temperature = labels, limit, temperature
        self.kept: list[Misclassified] = []
        self.mistakes = 0

    def add(self, frames: np.ndarray, truth: np.ndarray, logits: np.ndarray, media_ids: np.ndarray) -> None:
        """A scored batch: frames [B, (views,) T, H, W, 3], truth [B], logits [B, views, C], media ids [B]."""
        probabilities = window_probabilities(logits, self.temperature)
        predicted = probabilities.argmax(axis=1)
        for i in np.nonzero(predicted != truth)[0]:
            self.mistakes += 1
            confidence = float(probabilities[i, predicted[i]])
            if len(self.kept) == self.limit and confidence <= self.kept[-1].confidence:
                continue
            clip = frames[i] if frames.ndim == 5 else frames[i, 0]
            self.kept.append(Misclassified(media_ids[i].decode(), self.labels[truth[i]], self.labels[predicted[i]],
                                           confidence, _strip(clip)))
            self.kept = sorted(self.kept, key=lambda m: -m.confidence)[: self.limit]

    def html(self) -> str:
        """The gallery section of the report."""
        if not self.mistakes:
            return "<h2>Misclassified clips</h2><p>None: every clip's top-1 label was right.</p>"
        figures = "".join(
            f'<figure><img alt="frames of {html.escape(m.media_id)}" src="data:image/jpeg;base64,'
            f'{base64.b64encode(m.strip).decode()}"><figcaption>item {html.escape(m.media_id)}: true '
            f"<b>{html.escape(m.truth)}</b>, predicted <b>{html.escape(m.predicted)}</b> "
            f"({m.confidence:.2f})</figcaption></figure>" for m in self.kept)
        return (f"<h2>Misclassified clips</h2><p>{self.mistakes} clip(s) wrong; the {len(self.kept)} most confident "
                f"mistakes, {FRAMES_SHOWN} of the frames the model saw each:</p>"
                f'<div class="gallery">{figures}</div>')

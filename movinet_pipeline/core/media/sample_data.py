"""The bundled synthetic dataset: real H.264 videos of a shape moving in one of four directions.

The task is temporal by construction: every clip's frames, taken as an unordered set, look alike for `left` and
`right` (and for `up` and `down`), so a frame-order-blind model cannot beat 50%. The output is Dataloop's download
layout (`items/<dir>/<file>`, `json/<dir>/<stem>.json` with the item JSON and its `class` annotation), with `train/`
and `validation/` folders. Everything is deterministic by seed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from movinet_pipeline.core import layouts

log = logging.getLogger(__name__)

DIRECTIONS: dict[str, tuple[int, int]] = {"down": (0, 1), "left": (-1, 0), "right": (1, 0), "up": (0, -1)}
DATASET_ID = "5a3e0000sample0000000000"


@dataclass(frozen=True)
class SampleSpec:
    """Size of the generated dataset."""

    train_per_class: int = 48
    validation_per_class: int = 12
    width: int = 128
    height: int = 96
    frames: int = 24
    fps: int = 12
    seed: int = 0

    def __post_init__(self) -> None:
        # Measured: x264 output varied from run to run at 96x72 and was stable at 128x96 (whole macroblocks).
        if self.width % 16 or self.height % 16:
            raise ValueError(f"sample video size {self.width}x{self.height} must be a multiple of 16 on both sides")


def _object_id(*parts: object) -> str:
    """A stable 24-hex id, shaped like Dataloop's."""
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:24]


def render_clip(direction: str, spec: SampleSpec, rng: np.random.Generator) -> np.ndarray:
    """Frames [T, H, W, 3] uint8 of a square crossing a textured background in `direction`."""
    dx, dy = DIRECTIONS[direction]
    size = int(rng.integers(spec.height // 5, spec.height // 3))
    travel = 0.45 * (spec.width if dx else spec.height)
    background = rng.integers(0, 90, 3)
    texture = rng.integers(-20, 20, (spec.height, spec.width, 1))
    frame0 = np.clip(background + texture, 0, 255).astype(np.uint8)
    colour = rng.integers(150, 256, 3).astype(np.uint8)
    # Start so that the whole path stays inside the frame.
    x_room = spec.width - size - (travel if dx else 0)
    y_room = spec.height - size - (travel if dy else 0)
    x0 = rng.uniform(0, x_room) + (travel if dx < 0 else 0)
    y0 = rng.uniform(0, y_room) + (travel if dy < 0 else 0)
    frames = np.repeat(frame0[None], spec.frames, axis=0)
    for t in range(spec.frames):
        progress = travel * t / (spec.frames - 1)
        x, y = int(round(x0 + dx * progress)), int(round(y0 + dy * progress))
        frames[t, y : y + size, x : x + size] = colour
    return frames


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range RGB -> planar YUV 4:2:0 (as PyAV's yuv420p ndarray), computed in numpy.

    Converting here rather than in swscale keeps the encoded bytes identical from run to run.
    """
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    height, width = y.shape

    def subsample(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))

    planes = [y.ravel(), subsample(u).ravel(), subsample(v).ravel()]
    return np.clip(np.round(np.concatenate(planes)), 0, 255).astype(np.uint8).reshape(height * 3 // 2, width)


CODEC_OPTIONS = {
    "libx264": {"crf": "18", "preset": "veryfast", "threads": "1"},
    "libvpx-vp9": {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8", "threads": "1"},
}


def encode_video(frames: np.ndarray, path: Path, fps: int, codec: str = "libx264", keyframe_interval: int | None = None,
                 timestamps_ms: list[int] | None = None) -> None:
    """Encode RGB frames [T, H, W, 3] with FFmpeg (single-threaded, so the bytes are deterministic).

    The container follows the file suffix (.mp4, .mov, .webm, .avi, ...). `timestamps_ms` gives each frame's
    presentation time for a variable-frame-rate video; otherwise frames are 1/fps apart.
    """
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {**CODEC_OPTIONS.get(codec, {}), "g": str(keyframe_interval or fps)}
        if timestamps_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for number, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(array), format="yuv420p")
            if timestamps_ms is not None:
                frame.pts, frame.time_base = timestamps_ms[number], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def item_json(remote_dir: str, name: str, label: str, spec: SampleSpec, size: int) -> dict:
    """Dataloop item JSON (as `dataset.download(annotation_options=JSON)` writes it) with one class annotation."""
    item_id = _object_id(spec.seed, remote_dir, name)
    return {
        "id": item_id,
        "datasetId": DATASET_ID,
        "type": "file",
        "dir": remote_dir,
        "filename": f"{remote_dir}/{name}",
        "name": name,
        "annotated": True,
        "annotationsCount": 1,
        "metadata": {
            "system": {
                "mimetype": "video/mp4",
                "size": size,
                "fps": spec.fps,
                "nb_frames": spec.frames,
                "duration": spec.frames / spec.fps,
                "width": spec.width,
                "height": spec.height,
                "originalname": name,
            }
        },
        "annotations": [
            {
                "id": _object_id(item_id, "annotation"),
                "itemId": item_id,
                "datasetId": DATASET_ID,
                "type": "class",
                "label": label,
                "coordinates": [],
                "attributes": [],
                "metadata": {
                    "system": {
                        "frame": 0,
                        "endFrame": spec.frames - 1,
                        "startTime": 0,
                        "endTime": spec.frames / spec.fps,
                        "snapshots_": [],
                        "isOpen": False,
                    }
                },
            }
        ],
    }


def generate_sample_dataset(output: str | Path, spec: SampleSpec = SampleSpec()) -> Path:
    """Write the sample dataset under `output` and return it. Refuses to write into a non-empty folder."""
    root = Path(output)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"sample-data output {root} is not empty; choose an empty or new folder")
    rng = np.random.default_rng(spec.seed)
    counts = {"train": spec.train_per_class, "validation": spec.validation_per_class}
    for subset, per_class in counts.items():
        (root / layouts.ITEMS / subset).mkdir(parents=True, exist_ok=True)
        (root / layouts.ITEM_JSON / subset).mkdir(parents=True, exist_ok=True)
        for label in DIRECTIONS:
            for index in range(per_class):
                name = f"{label}_{index:03d}.mp4"
                video_path = root / layouts.ITEMS / subset / name
                encode_video(render_clip(label, spec, rng), video_path, spec.fps)
                record = item_json(f"/{subset}", name, label, spec, video_path.stat().st_size)
                (root / layouts.ITEM_JSON / subset / f"{Path(name).stem}.json").write_text(json.dumps(record, indent=2))
    total = sum(counts.values()) * len(DIRECTIONS)
    log.info("wrote %d sample videos (%d classes) to %s", total, len(DIRECTIONS), root)
    return root

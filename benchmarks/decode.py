"""Frame sampling for TFRecords, three ways on the same generated videos, with ratios measured in one run.

    python benchmarks/decode.py [--long-seconds 60] [--frames 16] [--short-side 256] [--out /tmp/decode-bench]

1. ours:     movinet_pipeline.core.media.video.read_clip (packet index, keyframe-aware seeks, resize in swscale,
             JPEG straight from the YUV planes);
2. original: the original adapter's approach: OpenCV reads every frame in order, tf.image per kept frame + JPEG;
3. floor:    FFmpeg (PyAV) decoding every frame of the file to nothing.

Videos: short (2 s) and long (--long-seconds), 360p and 720p, H.264 and VP9, sparse (every 10 s) and frequent
(every 0.5 s) keyframes. Also times ours over the whole set with 1 and 2 worker processes.
"""

from __future__ import annotations

import argparse
import itertools
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

FPS = 24


def moving_frames(seconds: float, height: int, seed: int) -> np.ndarray:
    """A textured background with a moving square, RGB uint8 [T, H, W, 3]."""
    rng = np.random.default_rng(seed)
    width = height * 16 // 9
    count = int(seconds * FPS)
    base = rng.integers(0, 120, (height, width, 3), dtype=np.uint8)
    frames = np.repeat(base[None], count, axis=0)
    size = height // 5
    for t in range(count):
        x = int((width - size) * (t / max(1, count - 1)))
        y = int((height - size) * (0.5 + 0.4 * np.sin(t / 15)))
        frames[t, y:y + size, x:x + size] = (230, 200, 40)
    return frames


def make_videos(root: Path, long_seconds: float) -> list[Path]:
    """Generate the benchmark videos (short and long, 360p and 720p, H.264 and VP9)."""
    from movinet_pipeline.core.media.sample_data import encode_video

    root.mkdir(parents=True, exist_ok=True)
    videos = []
    for seconds, height, codec, keyint in itertools.product((2, long_seconds), (360, 720), ("libx264", "libvpx-vp9"),
                                                            (FPS * 10, FPS // 2)):
        suffix = "mp4" if codec == "libx264" else "webm"
        path = root / f"{int(seconds)}s_{height}p_{codec}_k{keyint}.{suffix}"
        if not path.exists():
            frames = moving_frames(seconds, height, seed=height + int(seconds))
            encode_video(frames, path, FPS, codec=codec, keyframe_interval=keyint)
        videos.append(path)
    return videos


def ours(path: Path, frames: int, short_side: int) -> int:
    """Our path: read the sampled frames of one video; return how many."""
    from movinet_pipeline.core.media.video import read_clip

    clip = read_clip(str(path), 0, None, frames, short_side, jpeg_quality=90)
    return sum(len(jpeg) > 0 for jpeg in clip.frames)


def original(path: Path, frames: int, short_side: int) -> int:
    """OpenCV reads every frame in order; the kept ones go through tf.image (convert, resize) and JPEG."""
    import cv2
    import tensorflow as tf

    capture = cv2.VideoCapture(str(path))
    decoded = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        decoded.append(frame)
    capture.release()
    wanted = np.round(np.linspace(0, len(decoded) - 1, frames)).astype(int)
    kept = 0
    for number in wanted:
        rgb = tf.image.convert_image_dtype(decoded[number][..., ::-1], tf.float32)
        height, width = rgb.shape[:2]
        scale = short_side / min(height, width)
        resized = tf.image.resize(rgb, [round(height * scale), round(width * scale)])
        jpeg = tf.io.encode_jpeg(tf.image.convert_image_dtype(resized, tf.uint8, saturate=True), quality=90)
        kept += int(len(jpeg.numpy()) > 0)
    return kept


def floor(path: Path, frames: int, short_side: int) -> int:
    """The floor: FFmpeg decoding every frame to nothing; return how many."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def frame_count(path: Path) -> int:
    """Frames in the video at `path`."""
    return floor(path, 0, 0)


def timed(function, paths: list[Path], frames: int, short_side: int) -> dict[Path, float]:
    """Seconds `function` takes per video."""
    function(paths[0], frames, short_side)  # warm up: imports and first-call setup are not per-video costs
    seconds = {}
    for path in paths:
        started = time.perf_counter()
        function(path, frames, short_side)
        seconds[path] = time.perf_counter() - started
    return seconds


def _ours_job(job: tuple[Path, int, int]) -> int:
    return ours(*job)


def parallel_seconds(paths: list[Path], frames: int, short_side: int, workers: int) -> float:
    """Seconds for our path over `paths` with `workers` processes."""
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_ours_job, [(paths[0], frames, short_side)] * workers))  # warm the workers
        started = time.perf_counter()
        list(pool.map(_ours_job, [(p, frames, short_side) for p in paths]))
        return time.perf_counter() - started


def main() -> None:
    """Time every approach on the generated videos and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long-seconds", type=float, default=60)
    parser.add_argument("--frames", type=int, default=16, help="frames sampled per clip")
    parser.add_argument("--short-side", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("/tmp/movinet-decode-bench"))
    args = parser.parse_args()
    paths = make_videos(args.out, args.long_seconds)
    totals = {path: frame_count(path) for path in paths}
    original(paths[0], args.frames, args.short_side)  # import TensorFlow / OpenCV outside the timings
    results = {name: timed(fn, paths, args.frames, args.short_side)
               for name, fn in (("ours", ours), ("original", original), ("floor", floor))}
    print(f"{'video':36s} {'frames':>6s} {'ours s':>8s} {'orig s':>8s} {'floor s':>8s} {'orig/ours':>9s} "
          f"{'ours/floor':>10s}")
    for path in paths:
        o, r, f = (results[name][path] for name in ("ours", "original", "floor"))
        print(f"{path.name:36s} {totals[path]:6d} {o:8.3f} {r:8.3f} {f:8.3f} {r / o:8.1f}x {o / f:9.2f}x")
    for label, subset in (("short", [p for p in paths if p.name.startswith("2s_")]),
                          ("long", [p for p in paths if not p.name.startswith("2s_")]), ("all", paths)):
        o, r, f = (sum(results[name][p] for p in subset) for name in ("ours", "original", "floor"))
        print(f"{label:6s} set: ours {o:7.2f}s  original {r:7.2f}s  floor {f:7.2f}s  original/ours {r / o:5.1f}x  "
              f"ours/floor {o / f:5.2f}x  ours {len(subset) / o:6.1f} videos/s, "
              f"{sum(totals[p] for p in subset) / o:8.0f} source frames/s (1 core)")
    one, two = (parallel_seconds(paths, args.frames, args.short_side, workers) for workers in (1, 2))
    print(f"ours over the set: 1 worker {one:.2f}s, 2 workers {two:.2f}s, speed-up {one / two:.2f}x")


if __name__ == "__main__":
    main()

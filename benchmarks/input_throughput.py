"""Training input throughput, ours against the original adapter's.

Training input throughput: clips/s delivered ready for the model (decoded, augmented, batched) by our path against
the original adapter's, on the same generated videos, measured in one run.

    python benchmarks/input_throughput.py [--videos 32] [--width 640 --height 352] [--frames 96] [--n-frames 8]
                                          [--imgz 172] [--frame-step 10] [--batch 8] [--epochs 3] [--threads 1]
                                          [--model-epoch] [--out /tmp/input-bench]

1. ours:     TFRecords built once by the Beam step (its one-off time is reported), then every epoch
             `movinet_pipeline.core.model.input_pipeline.clip_dataset` (parallel parse + JPEG decode, random temporal
             window, random crop, batch, prefetch);
2. original: the original adapter's path (the TF video tutorial's FrameGenerator): every epoch,
             `tf.data.Dataset.from_generator` opens each video with OpenCV, seeks to a random start, reads
             `frame_step` frames per kept frame, `tf.image.resize_with_pad` each, batch.

`--threads 1` pins TensorFlow, tf.data and OpenCV to one thread, so clips/s is per core. `--model-epoch` also
times one epoch of a0 (conv_type 2plus1d) fed by each path: on this CPU the model step dominates.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from movinet_pipeline.core.logs import quiet_tensorflow

quiet_tensorflow()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from movinet_pipeline.core import layouts  # noqa: E402
from movinet_pipeline.core.config import PipelineConfig  # noqa: E402


def original_frames(path: str, n_frames: int, size: int, frame_step: int) -> np.ndarray:
    """The tutorial's `frames_from_video_file`: OpenCV, a random start, every `frame_step`-th frame, resize_with_pad."""
    import cv2

    capture = cv2.VideoCapture(path)
    length = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    need = 1 + (n_frames - 1) * frame_step
    start = 0 if need > length else random.randint(0, length - need)
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    result = []
    ok, frame = capture.read()
    result.append(tf.image.resize_with_pad(tf.image.convert_image_dtype(frame, tf.float32), size, size))
    for _ in range(n_frames - 1):
        for _ in range(frame_step):
            ok, frame = capture.read()
        result.append(tf.image.resize_with_pad(tf.image.convert_image_dtype(frame, tf.float32), size, size)
                      if ok else tf.zeros_like(result[0]))
    capture.release()
    return np.array(result)[..., [2, 1, 0]]


def original_dataset(videos: list[tuple[str, int]], args: argparse.Namespace) -> tf.data.Dataset:
    """The original adapter's input path as a tf.data pipeline."""
    def generate():
        shuffled = list(videos)
        random.shuffle(shuffled)
        for path, label in shuffled:
            yield original_frames(path, args.n_frames, args.imgz, args.frame_step), label

    signature = (tf.TensorSpec([None, None, None, 3], tf.float32), tf.TensorSpec([], tf.int32))
    return tf.data.Dataset.from_generator(generate, output_signature=signature).batch(args.batch)


def clips_per_second(dataset: tf.data.Dataset, epochs: int) -> tuple[float, int]:
    """Clips per second `dataset` delivers over `epochs`, and the clips counted."""
    next(iter(dataset))  # warm up (tracing, file opening)
    clips, started = 0, time.perf_counter()
    for _ in range(epochs):
        for frames, _ in dataset:
            clips += int(frames.shape[0])
    return clips / (time.perf_counter() - started), clips


def model_epoch_seconds(dataset: tf.data.Dataset, args: argparse.Namespace, labels: int) -> float:
    """Seconds of one training epoch of a0 on `dataset`."""
    from movinet_pipeline.core.model import network as modeling

    classifier = modeling.build_classifier(modeling.build_backbone("a0", "2plus1d"), labels, args.n_frames, args.imgz)
    classifier.compile(optimizer="adam", loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    classifier.fit(dataset.take(1), verbose=0)  # trace
    started = time.perf_counter()
    classifier.fit(dataset, verbose=0)
    return time.perf_counter() - started


def main() -> None:
    """Measure both input paths (and optionally a model epoch) and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=32)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=352)
    parser.add_argument("--frames", type=int, default=96, help="frames per generated video (24 fps)")
    parser.add_argument("--n-frames", type=int, default=8)
    parser.add_argument("--imgz", type=int, default=172)
    parser.add_argument("--frame-step", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model-epoch", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("/tmp/input-bench"))
    args = parser.parse_args()
    random.seed(0)

    from movinet_pipeline.core.examples.job import build_examples as build_tfrecords
    from movinet_pipeline.core.media.sample_data import SampleSpec, generate_sample_dataset
    from movinet_pipeline.core.sources.download_folder import export_local

    source = args.out / f"videos-{args.videos}-{args.width}x{args.height}-{args.frames}"
    if not source.exists():
        per_class = max(1, args.videos // 4)
        generate_sample_dataset(source, SampleSpec(train_per_class=per_class, validation_per_class=1,
                                                   width=args.width, height=args.height, frames=args.frames, fps=24))
    exported = args.out / "export"
    if not exported.exists():
        export_local(source, exported)
    entries = [e for e in layouts.read_manifest(exported) if e.subset == "train"]
    labels = layouts.read_labels(exported)
    videos = [(str(exported / e.video), labels.index(e.label)) for e in entries]

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import cv2

    cv2.setNumThreads(args.threads)
    config = PipelineConfig(n_frames=args.n_frames, imgz=args.imgz, num_shards=2)
    examples = args.out / f"examples-{args.n_frames}-{args.imgz}"
    build_seconds = None
    if not examples.exists():
        started = time.perf_counter()
        build_tfrecords(exported, examples, config, [f"--direct_num_workers={args.threads}",
                                                     "--direct_running_mode=multi_processing"])
        build_seconds = time.perf_counter() - started

    from movinet_pipeline.core.model.input_pipeline import clip_dataset

    options = tf.data.Options()
    options.threading.private_threadpool_size = args.threads
    ours = clip_dataset(examples, "train", args.n_frames, args.imgz, args.batch, training=True).with_options(options)
    original = original_dataset(videos, args).with_options(options)
    ours_rate, ours_clips = clips_per_second(ours, args.epochs)
    original_rate, original_clips = clips_per_second(original, args.epochs)

    print(f"{len(videos)} training videos {args.width}x{args.height}, {args.frames} frames; clips of {args.n_frames} "
          f"frames at {args.imgz}x{args.imgz}, batch {args.batch}, {args.epochs} epochs, {args.threads} thread(s)")
    if build_seconds is not None:
        print(f"one-off TFRecord build (Beam, {args.threads} worker(s)): {build_seconds:.1f} s")
    print(f"{'path':10s} {'clips/s':>9s} {'clips/s/core':>13s}")
    for name, rate in (("ours", ours_rate), ("original", original_rate)):
        print(f"{name:10s} {rate:9.1f} {rate / args.threads:13.1f}")
    print(f"ours / original: {ours_rate / original_rate:.1f}x ({ours_clips} and {original_clips} clips)")
    if args.model_epoch:
        ours_epoch = model_epoch_seconds(ours, args, len(labels))
        original_epoch = model_epoch_seconds(original, args, len(labels))
        print(f"one a0 (2plus1d) training epoch: ours {ours_epoch:.1f} s, original {original_epoch:.1f} s "
              f"({original_epoch / ours_epoch:.2f}x)")


if __name__ == "__main__":
    main()

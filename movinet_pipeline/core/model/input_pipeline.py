"""tf.data input over the examples contract: parse, pick frames, decode JPEGs, crop, batch, prefetch."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from movinet_pipeline.core import layouts
from movinet_pipeline.core.media.records import IMAGE_KEY, LABEL_INDEX_KEY, MEDIA_ID_KEY


def record_files(examples_dir: str | Path, subset: str) -> list[str]:
    """The subset's TFRecord shards; FileNotFoundError naming the folder when there are none."""
    files = layouts.Examples(str(examples_dir)).record_files(subset)
    if not files:
        raise FileNotFoundError(f"no {subset} TFRecords under {Path(examples_dir) / subset}")
    return files


def _stride(stored: tf.Tensor, n_frames: int) -> tuple[tf.Tensor, tf.Tensor]:
    """The step between `n_frames` evenly strided stored frames, and the room left for the window's start."""
    step = tf.maximum(1, stored // n_frames)
    return step, tf.maximum(0, stored - ((n_frames - 1) * step + 1))


def _frame_positions(stored: tf.Tensor, n_frames: int, training: bool) -> tf.Tensor:
    """Positions of `n_frames` evenly strided stored frames: a random window in training, the centre otherwise."""
    step, room = _stride(stored, n_frames)
    offset = tf.random.uniform([], 0, room + 1, dtype=tf.int32) if training else room // 2
    return tf.minimum(offset + tf.range(n_frames) * step, stored - 1)


def _view_positions(stored: tf.Tensor, n_frames: int, views: int) -> tf.Tensor:
    """[views, n_frames] positions: `views` windows spread evenly from the first stored frame to the last."""
    step, room = _stride(stored, n_frames)
    offsets = tf.cast(tf.round(tf.linspace(0.0, tf.cast(room, tf.float32), views)), tf.int32)
    return tf.minimum(offsets[:, None] + tf.range(n_frames)[None, :] * step, stored - 1)


def _crop(frames: tf.Tensor, imgz: int, training: bool, flip: bool) -> tf.Tensor:
    """Random crop (+ optional flip) in training, centre crop otherwise, to [T, imgz, imgz, 3]."""
    shape = tf.shape(frames)
    short = tf.minimum(shape[1], shape[2])
    if_small = tf.cast(tf.math.ceil(tf.cast(shape[1:3], tf.float32) * imgz / tf.cast(short, tf.float32)), tf.int32)
    frames = tf.cond(short < imgz, lambda: tf.cast(tf.image.resize(frames, if_small), tf.uint8), lambda: frames)
    shape = tf.shape(frames)
    if training:
        frames = tf.image.random_crop(frames, [shape[0], imgz, imgz, 3])
        if flip:
            frames = tf.cond(tf.random.uniform([]) < 0.5, lambda: tf.reverse(frames, [2]), lambda: frames)
    else:
        top, left = (shape[1] - imgz) // 2, (shape[2] - imgz) // 2
        frames = frames[:, top : top + imgz, left : left + imgz, :]
    return frames


def crop_frames(encoded: tf.Tensor, imgz: int) -> tf.Tensor:
    """JPEG frames [T] -> float32 [T, imgz, imgz, 3] in [0, 1], centre-cropped as evaluation reads a clip."""
    return _frames(encoded, tf.range(tf.shape(encoded)[0]), imgz, training=False, flip=False)


def _parse(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    context, sequence = tf.io.parse_single_sequence_example(
        serialized,
        context_features={LABEL_INDEX_KEY: tf.io.FixedLenFeature([], tf.int64)},
        sequence_features={IMAGE_KEY: tf.io.FixedLenSequenceFeature([], tf.string)},
    )
    return sequence[IMAGE_KEY], tf.cast(context[LABEL_INDEX_KEY], tf.int32)


def _frames(encoded: tf.Tensor, positions: tf.Tensor, imgz: int, training: bool, flip: bool) -> tf.Tensor:
    """Decode the JPEGs at `positions` [T] and crop them to float32 [T, imgz, imgz, 3] in [0, 1]."""
    frames = tf.map_fn(lambda jpeg: tf.io.decode_jpeg(jpeg, channels=3), tf.gather(encoded, positions),
                       fn_output_signature=tf.uint8)
    return tf.cast(_crop(frames, imgz, training, flip), tf.float32) / 255.0


def parse_clip(serialized: tf.Tensor, n_frames: int, imgz: int, training: bool, flip: bool = False):
    """One serialized SequenceExample -> (float32 frames [n_frames, imgz, imgz, 3] in [0, 1], label)."""
    encoded, label = _parse(serialized)
    positions = _frame_positions(tf.shape(encoded)[0], n_frames, training)
    return tf.ensure_shape(_frames(encoded, positions, imgz, training, flip), [n_frames, imgz, imgz, 3]), label


def parse_views(serialized: tf.Tensor, n_frames: int, imgz: int, views: int):
    """One record -> `views` centre-cropped temporal windows and the label.

    One serialized SequenceExample -> (`views` centre-cropped temporal windows [views, n_frames, imgz, imgz, 3],
    label): multi-clip evaluation.
    """
    encoded, label = _parse(serialized)
    positions = tf.reshape(_view_positions(tf.shape(encoded)[0], n_frames, views), [-1])
    frames = _frames(encoded, positions, imgz, training=False, flip=False)
    return tf.ensure_shape(tf.reshape(frames, [views, n_frames, imgz, imgz, 3]),
                           [views, n_frames, imgz, imgz, 3]), label


def _label_of(serialized: tf.Tensor) -> tf.Tensor:
    """A record's label index, from its context alone (no frame is parsed)."""
    context, _ = tf.io.parse_single_sequence_example(
        serialized, context_features={LABEL_INDEX_KEY: tf.io.FixedLenFeature([], tf.int64)})
    return tf.cast(context[LABEL_INDEX_KEY], tf.int32)


def _media_id(serialized: tf.Tensor) -> tf.Tensor:
    """A record's media (Dataloop item) id, from its context alone."""
    context, _ = tf.io.parse_single_sequence_example(
        serialized, context_features={MEDIA_ID_KEY: tf.io.FixedLenFeature([], tf.string)})
    return context[MEDIA_ID_KEY]


def balance_labels(records: tf.data.Dataset, label_counts: list[int], seed: int = 0) -> tf.data.Dataset:
    """An endless record stream resampled to equal label frequencies (rejection sampling, before any decoding).

    `label_counts`: the subset's clips per label index (stats.json); every label needs clips.
    """
    if not all(label_counts):
        raise ValueError(f"balanced sampling needs clips of every label; clips per label index: {label_counts}")
    total = sum(label_counts)
    return records.rejection_resample(_label_of, target_dist=[1.0 / len(label_counts)] * len(label_counts),
                                      initial_dist=[count / total for count in label_counts],
                                      seed=seed).map(lambda _, record: record)


def clip_dataset(examples_dir: str | Path, subset: str, n_frames: int, imgz: int, batch_size: int,
                 training: bool, flip: bool = False, seed: int = 0, repeat: bool = False,
                 views: int = 1, input_context: tf.distribute.InputContext | None = None,
                 balance: list[int] | None = None, with_ids: bool = False) -> tf.data.Dataset:
    """Batched (frames, label) pairs of one subset.

    Batched (frames, label) pairs of one subset; shuffled and augmented when `training`; endless when `repeat`
    (then the caller sets the epoch length). With `views` > 1 (evaluation), frames are [B, views, T, H, W, 3].
    With an `input_context` (multi-worker training), `batch_size` is the global batch: this input pipeline keeps
    its share of the records before decoding them and batches per replica. `balance` (clips per label index, with
    `repeat`): resample the records to equal label frequencies. `with_ids`: (frames, label, media id) triples.
    """
    files = record_files(examples_dir, subset)
    dataset = tf.data.TFRecordDataset(files, num_parallel_reads=tf.data.AUTOTUNE)
    if input_context:
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    if training:
        dataset = dataset.shuffle(1024, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    if balance:
        dataset = balance_labels(dataset, balance, seed)

    def parse(serialized: tf.Tensor) -> tuple:
        frames_and_label = (parse_views(serialized, n_frames, imgz, views) if views > 1
                            else parse_clip(serialized, n_frames, imgz, training, flip))
        return (*frames_and_label, _media_id(serialized)) if with_ids else frames_and_label

    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
    dataset = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return dataset.with_options(_without_autotuning()) if repeat else dataset


def _without_autotuning() -> tf.data.Options:
    """Options for an endless stream: parallel reads and decoding on every core, no autotuning thread.

    The autotuning thread of a long-lived iterator sleeps between optimizations, longer as training goes on, and
    TensorFlow 2.20 waits for it to wake when the iterator is deleted: at the end of `fit` that stalled training
    for 0.5-18 s (the native stacks, and the figures, are in benchmarks/RESULTS.md). Without it, `AUTOTUNE`
    parallelism is the number of cores and the prefetch buffer grows when the model waits for data.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return options

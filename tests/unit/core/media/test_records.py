"""The examples contract: TFRecords of SequenceExamples in Model Garden's video layout."""

import io
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from movinet_pipeline.components.build_tfrecords.build import build_tfrecords
from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.examples.job import BuildError
from movinet_pipeline.core.media.records import ClipRecord, parse_clip, serialize_clip
from movinet_pipeline.core.model.input_pipeline import clip_dataset

CONFIG = PipelineConfig(imgz=32, n_frames=4, record_frames=6, num_shards=2)


@pytest.fixture(scope="module")
def examples_dir(exported_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("examples") / "records"
    build_tfrecords(exported_dir, output, CONFIG, ["--direct_running_mode=in_memory"])
    return output


def _records(path):
    return [record for shard in sorted(path.glob("*.tfrecord")) for record in _records_of(shard)]


def test_plain_protobuf_records_equal_tensorflows_bytes():
    clip = ClipRecord([b"\xff\xd8a", b"\xff\xd8b"], 3, "up", "item-1", [0, 7], 12.5)
    example = tf.train.SequenceExample()
    context = example.context.feature
    context["clip/label/index"].int64_list.value.append(3)
    context["clip/label/text"].bytes_list.value.append(b"up")
    context["clip/media_id"].bytes_list.value.append(b"item-1")
    context["clip/frame_indices"].int64_list.value.extend([0, 7])
    context["clip/source_fps"].float_list.value.append(12.5)
    for jpeg in clip.jpeg_frames:
        example.feature_lists.feature_list["image/encoded"].feature.add().bytes_list.value.append(jpeg)
    assert serialize_clip(clip) == example.SerializeToString(deterministic=True)
    assert parse_clip(serialize_clip(clip)) == clip


def test_beam_writes_sharded_subsets_labels_stats(examples_dir, exported_dir):
    assert len(list((examples_dir / "train").glob("*.tfrecord"))) == 2
    assert layouts.read_labels(examples_dir) == layouts.read_labels(exported_dir)
    stats = json.loads((examples_dir / layouts.STATS).read_text())
    assert stats["clips"] == 20 and stats["skipped"] == 0
    assert stats["clips_per_subset_label"]["train"] == {"down": 3, "left": 3, "right": 3, "up": 3}
    assert stats["frames"] == 20 * CONFIG.frames_per_record


def test_records_round_trip_to_the_manifest(examples_dir, exported_dir):
    manifest = {(e.item_id, e.subset): e for e in layouts.read_manifest(exported_dir)}
    labels = layouts.read_labels(exported_dir)
    for subset in ("train", "validation"):
        for raw in _records(examples_dir / subset):
            clip = parse_clip(raw)
            entry = manifest[(clip.media_id, subset)]
            assert labels[clip.label_index] == clip.label_text == entry.label
            assert clip.frame_indices == [0, 5, 9, 14, 18, 23]
            assert clip.source_fps == pytest.approx(12.0)
            image = Image.open(io.BytesIO(clip.jpeg_frames[0]))
            assert image.format == "JPEG" and min(image.size) == CONFIG.short_side + CONFIG.short_side % 2  # even


def test_model_gardens_own_decoder_reads_the_records(examples_dir):
    from official.vision.dataloaders import video_input

    decoder = video_input.Decoder(image_key="image/encoded", label_key="clip/label/index")
    raw = _records(examples_dir / "validation")[0]
    decoded = decoder.decode(tf.constant(raw))
    ours = parse_clip(raw)
    assert decoded["clip/label/index"].numpy().tolist() == [ours.label_index]
    assert decoded["image/encoded"].shape[0] == CONFIG.frames_per_record
    frames = [tf.io.decode_jpeg(jpeg).numpy() for jpeg in decoded["image/encoded"]]
    for frame, jpeg in zip(frames, ours.jpeg_frames):
        reference = np.asarray(Image.open(io.BytesIO(jpeg)), dtype=np.int16)
        assert frame.shape == reference.shape
        assert np.abs(frame.astype(np.int16) - reference).mean() < 3.0  # two JPEG decoders, same picture


def test_training_input_yields_model_shaped_batches(examples_dir):
    batch, labels = next(iter(clip_dataset(examples_dir, "train", CONFIG.n_frames, CONFIG.imgz, 4, training=True)))
    assert batch.shape == (4, CONFIG.n_frames, 32, 32, 3) and batch.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(batch)) and float(tf.reduce_max(batch)) <= 1.0
    assert set(labels.numpy()) <= {0, 1, 2, 3}


def test_only_the_endless_training_stream_runs_without_an_autotuning_thread(examples_dir):
    """Deleting a long-lived iterator waits for its autotuning thread to wake (seconds at the end of `fit`)."""
    endless = clip_dataset(examples_dir, "train", CONFIG.n_frames, CONFIG.imgz, 4, training=True, repeat=True)
    once = clip_dataset(examples_dir, "validation", CONFIG.n_frames, CONFIG.imgz, 4, training=False)
    assert endless.options().autotune.enabled is False and once.options().autotune.enabled is not False
    assert next(iter(endless))[0].shape == (4, CONFIG.n_frames, 32, 32, 3)


def test_a_bad_video_is_reported_and_the_rest_still_built(exported_dir, tmp_path):
    import shutil

    source = tmp_path / "dataset"
    shutil.copytree(exported_dir, source)
    broken = next(e for e in layouts.read_manifest(source) if e.subset == "train")
    (source / broken.video).unlink()
    (source / broken.video).write_bytes(b"\x00" * 100)
    stats = build_tfrecords(source, tmp_path / "out", CONFIG, ["--direct_running_mode=in_memory"])
    assert stats["clips"] == 19 and stats["skipped"] == 1
    (error,) = layouts.read_errors(tmp_path / "out" / layouts.ERRORS)
    assert error.item == broken.video and "VideoDecodeError" in error.reason and error.step == "build_tfrecords"


def test_every_video_failing_fails_the_step_with_a_summary(exported_dir, tmp_path):
    import shutil

    source = tmp_path / "dataset"
    shutil.copytree(exported_dir, source)
    for entry in layouts.read_manifest(source):
        (source / entry.video).unlink(missing_ok=True)
        (source / entry.video).write_bytes(b"junk")
    with pytest.raises(BuildError, match="every clip failed"):
        build_tfrecords(source, tmp_path / "out", CONFIG, ["--direct_running_mode=in_memory"])


def test_contact_sheet_shows_the_stored_frames_per_label(examples_dir):
    from movinet_pipeline.core.layouts import CONTACT_SHEET
    from movinet_pipeline.core.media.records import iter_tfrecords

    shard = sorted((examples_dir / "train").glob("*.tfrecord"))[0]
    assert list(iter_tfrecords(shard)) == _records_of(shard)
    sheet = (examples_dir / CONTACT_SHEET).read_text()
    for label in ("down", "left", "right", "up"):
        assert f"<th>{label}<br>" in sheet
    assert sheet.count("<img ") == 4 * 2 * CONFIG.frames_per_record


def _records_of(shard):
    return [bytes(r.numpy()) for r in tf.data.TFRecordDataset([str(shard)])]


def test_several_temporal_clips_per_training_video(exported_dir, tmp_path):
    config = CONFIG.replace(sampling="stride", frame_step=2, record_frames=6, train_clips_per_video=3)
    stats = build_tfrecords(exported_dir, tmp_path / "out", config, ["--direct_running_mode=in_memory"])
    assert stats["clips_per_subset_label"]["train"] == {"down": 9, "left": 9, "right": 9, "up": 9}
    assert stats["clips_per_subset_label"]["validation"] == {"down": 2, "left": 2, "right": 2, "up": 2}
    starts = sorted(parse_clip(r).frame_indices[0] for r in _records(tmp_path / "out" / "train"))
    assert set(starts) == {0, 6, 13}  # 24 frames, windows of 6 frames x step 2 spread over the clip


def test_model_gardens_parser_yields_clips_and_labels(examples_dir):
    from official.vision.configs import video_classification
    from official.vision.dataloaders import video_input

    params = video_classification.DataConfig(feature_shape=(4, 32, 32, 3), temporal_stride=1, min_image_size=36,
                                              num_classes=4, num_test_clips=1, num_test_crops=1, one_hot=False)
    decoder = video_input.Decoder(image_key="image/encoded", label_key="clip/label/index")
    parser = video_input.Parser(params, image_key="image/encoded", label_key="clip/label/index")
    raw = _records(examples_dir / "validation")[0]
    features, label = parser.parse_fn(is_training=False)(decoder.decode(tf.constant(raw)))
    assert features["image"].shape == (4, 32, 32, 3)
    assert int(tf.reshape(label, [-1])[0]) == parse_clip(raw).label_index

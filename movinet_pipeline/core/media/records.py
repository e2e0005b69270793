"""The examples contract: one `tf.train.SequenceExample` per clip in TF Model Garden's video layout.

Records are built with plain protobuf (a private descriptor pool mirroring tensorflow/core/example/*.proto), so
the Beam workers never import TensorFlow; the bytes are identical to TensorFlow's own (tested).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from movinet_pipeline.core.clients import storage

IMAGE_KEY = "image/encoded"
LABEL_INDEX_KEY = "clip/label/index"
LABEL_TEXT_KEY = "clip/label/text"
MEDIA_ID_KEY = "clip/media_id"
FRAME_INDICES_KEY = "clip/frame_indices"
SOURCE_FPS_KEY = "clip/source_fps"


def _build_messages() -> dict[str, type]:
    """Message classes for tensorflow.{Feature, Features, FeatureList, FeatureLists, SequenceExample}."""
    proto = descriptor_pb2.FileDescriptorProto(name="movinet_pipeline/example.proto", package="tensorflow")
    f = descriptor_pb2.FieldDescriptorProto
    repeated, optional = f.LABEL_REPEATED, f.LABEL_OPTIONAL

    def message(name: str, fields: list[tuple[str, int, int, int, str | None]], oneof: bool = False) -> None:
        msg = proto.message_type.add(name=name)
        if oneof:
            msg.oneof_decl.add(name="kind")
        for field_name, number, label, field_type, type_name in fields:
            field = msg.field.add(name=field_name, number=number, label=label, type=field_type)
            if type_name:
                field.type_name = type_name
            if oneof:
                field.oneof_index = 0
            if label == repeated and field_type in (f.TYPE_FLOAT, f.TYPE_INT64):
                field.options.packed = True

    def map_entry(parent: str, value_type: str) -> None:
        msg = next(m for m in proto.message_type if m.name == parent)
        entry = msg.nested_type.add(name=f"{'Feature' if value_type == '.tensorflow.Feature' else 'FeatureList'}Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, label=optional, type=f.TYPE_STRING)
        entry.field.add(name="value", number=2, label=optional, type=f.TYPE_MESSAGE, type_name=value_type)
        field_name = "feature" if value_type == ".tensorflow.Feature" else "feature_list"
        msg.field.add(name=field_name, number=1, label=repeated, type=f.TYPE_MESSAGE,
                      type_name=f".tensorflow.{parent}.{entry.name}")

    message("BytesList", [("value", 1, repeated, f.TYPE_BYTES, None)])
    message("FloatList", [("value", 1, repeated, f.TYPE_FLOAT, None)])
    message("Int64List", [("value", 1, repeated, f.TYPE_INT64, None)])
    message("Feature", [
        ("bytes_list", 1, optional, f.TYPE_MESSAGE, ".tensorflow.BytesList"),
        ("float_list", 2, optional, f.TYPE_MESSAGE, ".tensorflow.FloatList"),
        ("int64_list", 3, optional, f.TYPE_MESSAGE, ".tensorflow.Int64List"),
    ], oneof=True)
    message("Features", [])
    map_entry("Features", ".tensorflow.Feature")
    message("FeatureList", [("feature", 1, repeated, f.TYPE_MESSAGE, ".tensorflow.Feature")])
    message("FeatureLists", [])
    map_entry("FeatureLists", ".tensorflow.FeatureList")
    message("SequenceExample", [
        ("context", 1, optional, f.TYPE_MESSAGE, ".tensorflow.Features"),
        ("feature_lists", 2, optional, f.TYPE_MESSAGE, ".tensorflow.FeatureLists"),
    ])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.{name}"))
        for name in ("SequenceExample",)
    }


SequenceExample = _build_messages()["SequenceExample"]


@dataclass(frozen=True)
class ClipRecord:
    """What one record holds."""

    jpeg_frames: list[bytes]
    label_index: int
    label_text: str
    media_id: str
    frame_indices: list[int]
    source_fps: float


def serialize_clip(clip: ClipRecord) -> bytes:
    """Serialize a clip as a SequenceExample (deterministic field order)."""
    example = SequenceExample()
    context = example.context.feature
    context[LABEL_INDEX_KEY].int64_list.value.append(clip.label_index)
    context[LABEL_TEXT_KEY].bytes_list.value.append(clip.label_text.encode())
    context[MEDIA_ID_KEY].bytes_list.value.append(clip.media_id.encode())
    context[FRAME_INDICES_KEY].int64_list.value.extend(clip.frame_indices)
    context[SOURCE_FPS_KEY].float_list.value.append(clip.source_fps)
    frames = example.feature_lists.feature_list[IMAGE_KEY].feature
    for jpeg in clip.jpeg_frames:
        frames.add().bytes_list.value.append(jpeg)
    return example.SerializeToString(deterministic=True)


def parse_clip(serialized: bytes) -> ClipRecord:
    """Inverse of `serialize_clip` (plain Python, for tests and tools)."""
    example = SequenceExample.FromString(serialized)
    context = example.context.feature
    return ClipRecord(
        jpeg_frames=[f.bytes_list.value[0] for f in example.feature_lists.feature_list[IMAGE_KEY].feature],
        label_index=context[LABEL_INDEX_KEY].int64_list.value[0],
        label_text=context[LABEL_TEXT_KEY].bytes_list.value[0].decode(),
        media_id=context[MEDIA_ID_KEY].bytes_list.value[0].decode(),
        frame_indices=list(context[FRAME_INDICES_KEY].int64_list.value),
        source_fps=context[SOURCE_FPS_KEY].float_list.value[0],
    )


def iter_tfrecords(path: str | Path) -> Iterator[bytes]:
    """Records of one uncompressed TFRecord file (length, masked CRC, data, masked CRC), without TensorFlow."""
    with storage.open_read(path) as handle:
        while header := handle.read(12):
            (length,) = struct.unpack("<Q", header[:8])
            data = handle.read(length)
            handle.read(4)
            yield data

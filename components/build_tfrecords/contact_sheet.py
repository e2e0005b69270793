"""A contact sheet of the frames the model will see: a few clips per label, every stored frame, as one HTML page."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from movinet_pipeline.core import layouts
from movinet_pipeline.core.media.records import ClipRecord, iter_tfrecords, parse_clip


def sample_clips(examples_dir: str | Path, subset: str, per_label: int) -> dict[str, list[ClipRecord]]:
    """Up to `per_label` clips of each label from `subset`'s shards."""
    clips: dict[str, list[ClipRecord]] = {}
    for shard in layouts.Examples(str(examples_dir)).record_files(subset):
        for raw in iter_tfrecords(shard):
            clip = parse_clip(raw)
            bucket = clips.setdefault(clip.label_text, [])
            if len(bucket) < per_label:
                bucket.append(clip)
    return dict(sorted(clips.items()))


def render_contact_sheet(examples_dir: str | Path, subset: str = "train", per_label: int = 2) -> str:
    """HTML with one row per sampled clip: label, item id, source frame numbers and the stored JPEG frames."""
    rows = []
    for label, clips in sample_clips(examples_dir, subset, per_label).items():
        for clip in clips:
            images = "".join(
                f'<figure><img src="data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}">'
                f"<figcaption>{number}</figcaption></figure>"
                for jpeg, number in zip(clip.jpeg_frames, clip.frame_indices)
            )
            rows.append(f"<tr><th>{html.escape(label)}<br><small>{html.escape(clip.media_id)}</small></th>"
                        f"<td>{images}</td></tr>")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Sampled frames ({html.escape(subset)})</title>
<style>body{{font-family:sans-serif;margin:1em}} figure{{display:inline-block;margin:2px;text-align:center}}
figcaption{{font-size:10px;color:#666}} th{{text-align:left;vertical-align:top;padding-right:1em}}</style>
</head><body><h1>Sampled frames, {html.escape(subset)} subset</h1>
<p>Each row is one stored clip: the frames as written to the TFRecords (captions: source frame numbers).</p>
<table>{''.join(rows)}</table></body></html>
"""

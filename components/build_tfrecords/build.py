"""build_tfrecords step: the examples job (core: `movinet_pipeline.core.examples`), then a contact sheet."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from movinet_pipeline.components.build_tfrecords.contact_sheet import render_contact_sheet
from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.examples.job import build_examples


def build_tfrecords(input_dir: str | Path, output_dir: str | Path, config: PipelineConfig,
                    beam_args: Sequence[str] = (), dataloop_secret: str = "") -> dict:
    """Build the examples and their contact sheet (two clips per label of train); return `stats.json`."""
    stats = build_examples(input_dir, output_dir, config, beam_args, dataloop_secret)
    per_subset = stats["clips_per_subset_label"]
    subset = "train" if "train" in per_subset else next(iter(per_subset))
    examples = layouts.Examples(str(output_dir))
    storage.write_text(examples.contact_sheet, render_contact_sheet(examples.root, subset))
    return stats

"""The loss budget: a TFRecord build that lost more than `max_skipped_fraction` of the labelled data fails, every
label keeps train and validation clips, and what was lost is counted and listed.
"""

from __future__ import annotations

import json
import shutil

import pytest

from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.examples.job import BuildError, build_examples
from movinet_pipeline.core.layouts import ErrorEntry

CONFIG = PipelineConfig(imgz=32, n_frames=4, record_frames=4, num_shards=1)
BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _dataset(exported_dir, tmp_path, broken: list[str], upstream: list[ErrorEntry] = ()) -> str:
    """Two clips per label and subset of the shared export; `broken` videos replaced by garbage."""
    root = tmp_path / "dataset"
    entries = [e for subset in ("train", "validation") for label in layouts.read_labels(exported_dir)
               for e in [x for x in layouts.read_manifest(exported_dir) if (x.subset, x.label) == (subset, label)][:2]]
    for entry in entries:
        (root / entry.video).parent.mkdir(parents=True, exist_ok=True)
        if entry.video in broken:
            (root / entry.video).write_bytes(b"not a video")
        else:
            shutil.copy(exported_dir / entry.video, root / entry.video)
    layouts.write_jsonl(root / layouts.MANIFEST, entries)
    layouts.write_labels(root, layouts.read_labels(exported_dir))
    layouts.write_jsonl(root / layouts.ERRORS, upstream)
    (root / layouts.EXPORT_INFO).write_text(json.dumps({"model_annotations_excluded": 3}))
    return str(root)


def _videos(exported_dir, subset: str, label: str | None = None) -> list[str]:
    return [e.video for e in layouts.read_manifest(exported_dir) if e.subset == subset and label in (None, e.label)]


def test_loss_within_the_budget_is_counted_and_listed(exported_dir, tmp_path):
    broken = _videos(exported_dir, "train")[:1]
    upstream = [ErrorEntry("/train/photo.jpg", "not a video", "export_dataset", lost=False),
                ErrorEntry("/train/x.mp4", "unreadable annotation: frame range 9..3", "export_dataset")]
    stats = build_examples(_dataset(exported_dir, tmp_path, broken, upstream), tmp_path / "examples",
                           PipelineConfig(**{**CONFIG.to_dict(), "max_skipped_fraction": 0.2}), BEAM)
    assert stats["clips"] == 15 and stats["lost"] == 2 and stats["lost_fraction"] == pytest.approx(2 / 17)
    assert sorted(e["item"] for e in stats["lost_items"]) == sorted(["/train/x.mp4", *broken])
    written = json.loads((tmp_path / "examples" / layouts.STATS).read_text())
    assert written["lost"] == 2 and written["model_annotations_excluded"] == 3


def test_losing_more_than_the_budget_fails_the_step_naming_the_items(exported_dir, tmp_path):
    broken = _videos(exported_dir, "train")[:2]
    with pytest.raises(BuildError, match=r"lost 2 labelled item\(s\) or clip\(s\), 12.5% of them, over the loss budget "
                                         r"max_skipped_fraction=5.0% \(first: items/"):
        build_examples(_dataset(exported_dir, tmp_path, broken), tmp_path / "examples", CONFIG, BEAM)


def test_a_label_that_lost_all_its_validation_clips_fails_the_step(exported_dir, tmp_path):
    label = layouts.read_labels(exported_dir)[0]
    broken = _videos(exported_dir, "validation", label)[:2]
    with pytest.raises(BuildError, match=f"'{label}' has no validation clip"):
        build_examples(_dataset(exported_dir, tmp_path, broken), tmp_path / "examples",
                       PipelineConfig(**{**CONFIG.to_dict(), "max_skipped_fraction": 0.5}), BEAM)

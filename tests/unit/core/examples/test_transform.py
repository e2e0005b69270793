"""The Beam graph as one composite PTransform, on Beam's TestPipeline with `assert_that`."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.examples.clip_cache import SamplingOptions
from movinet_pipeline.core.examples.job import local_runner
from movinet_pipeline.core.examples.transform import BuildExamples, SideFiles
from movinet_pipeline.core.layouts import ManifestEntry

CONFIG = PipelineConfig(imgz=32, n_frames=4, record_frames=6, num_shards=1)


def test_build_examples_encodes_every_clip_and_dead_letters_the_undecodable(exported_dir, tmp_path):
    entries = list(layouts.read_manifest(exported_dir))[:3]
    (exported_dir / "items" / "broken-transform-test.mp4").write_bytes(b"not a video")
    broken = ManifestEntry("broken-id", "items/broken-transform-test.mp4", entries[0].label, "train", 0, None, None)
    (tmp_path / "outside.mp4").write_bytes((exported_dir / entries[0].video).read_bytes())
    escaping = ManifestEntry("escape-id", f"../../../../../../../..{tmp_path}/outside.mp4", entries[0].label,
                             "train", 0, None, None)
    labels = layouts.read_labels(exported_dir)
    examples = layouts.Examples(str(tmp_path / "examples"))
    options = PipelineOptions(["--direct_running_mode=in_memory"])
    with BeamTestPipeline(runner=local_runner(options), options=options) as pipeline:
        outputs = (pipeline | beam.Create([*entries, broken, escaping])
                   | BuildExamples(str(exported_dir), examples, labels, ["train", "validation"],
                                   SamplingOptions.from_config(CONFIG), CONFIG.num_shards,
                                   SideFiles(str(tmp_path / "stats"), str(tmp_path / "errors"))))
        assert_that(outputs["records"] | beam.Map(lambda record: (record[0], record[2].label, record[2].frames)),
                    equal_to([(e.subset, e.label, CONFIG.frames_per_record) for e in entries]), label="clips")
        assert_that(outputs["errors"] | beam.Map(lambda error: (error.item, error.step, error.reason.split(":")[0])),
                    equal_to([(broken.video, "build_tfrecords", "VideoDecodeError"),
                              (escaping.video, "build_tfrecords", "UnsafeItemName")]), label="dead letters")
    written = {subset: examples.record_files(subset) for subset in ("train", "validation")}
    assert all(len(files) == 1 for files in written.values() if files)
    assert (tmp_path / "stats").read_text().count("\n") == len(entries)

"""KFP component: Apache Beam job from the exported dataset to frame-sampled SequenceExample TFRecords."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Output

from movinet_pipeline.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def build_tfrecords(dataset: Input[Dataset], config: Input[Artifact], examples: Output[Dataset],
                    contact_sheet: Output[HTML], beam_options: str = ""):
    """`beam_options`: standard Beam flags, e.g. "--runner=DataflowRunner --project=p --region=r
    --temp_location=gs://b/tmp --sdk_container_image=<dataflow worker image>"; a remote runner reads and writes the
    artifacts at their gs:// URIs."""
    import shlex
    import shutil
    from pathlib import Path

    from components.build_tfrecords.beam_pipeline import artifact_location
    from components.build_tfrecords.beam_pipeline import build_tfrecords as run_beam
    from components.build_tfrecords.contact_sheet import CONTACT_SHEET
    from movinet_pipeline.config import read_config
    from movinet_pipeline.logs import setup_logging

    setup_logging()
    beam_args = shlex.split(beam_options)
    stats = run_beam(artifact_location(dataset.path, dataset.uri, beam_args),
                     artifact_location(examples.path, examples.uri, beam_args), read_config(config.path), beam_args)
    shutil.copy(Path(examples.path) / CONTACT_SHEET, contact_sheet.path)
    examples.metadata.update({"clips": stats["clips"], "skipped": stats["skipped"], "frames": stats["frames"]})

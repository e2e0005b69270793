"""KFP component: Apache Beam job from the exported dataset to frame-sampled SequenceExample TFRecords."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Output

from movinet_pipeline.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def build_tfrecords(dataset: Input[Dataset], config: Input[Artifact], examples: Output[Dataset],
                    contact_sheet: Output[HTML], beam_options: str = ""):
    """`beam_options`: standard Beam flags, e.g. "--runner=DataflowRunner --project=p --region=r"."""
    import shlex
    import shutil
    from pathlib import Path

    from components.build_tfrecords.beam_pipeline import build_tfrecords as run_beam
    from components.build_tfrecords.contact_sheet import CONTACT_SHEET
    from movinet_pipeline.config import read_config
    from movinet_pipeline.logs import setup_logging

    setup_logging()
    stats = run_beam(dataset.path, examples.path, read_config(config.path), shlex.split(beam_options))
    shutil.copy(Path(examples.path) / CONTACT_SHEET, contact_sheet.path)
    examples.metadata.update({"clips": stats["clips"], "skipped": stats["skipped"], "frames": stats["frames"]})

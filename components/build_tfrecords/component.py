"""KFP component: Apache Beam job from the exported dataset to frame-sampled SequenceExample TFRecords."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Output

from movinet_pipeline.core.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def build_tfrecords(dataset: Input[Dataset], config: Input[Artifact], examples: Output[Dataset],
                    contact_sheet: Output[HTML], beam_options: str = "", dataloop_secret: str = ""):
    """Build frame-sampled TFRecords from the exported dataset with Apache Beam.

    Args:
        dataset: The exported dataset.
        config: The run's configuration (config.json).
        examples: TFRecord shards per subset, labels.json, stats.json, errors.jsonl.
        contact_sheet: The stored frames of two clips per label, to look at.
        beam_options: Standard Beam flags, e.g. --runner=DataflowRunner --project=p --region=r
            --temp_location=gs://b/tmp --sdk_container_image=<worker image>; a remote runner reads and writes the
            artifacts at their gs:// URIs.
        dataloop_secret: Secret Manager secret with the Dataloop credentials, for workers that fetch the videos
            (when the export left them in Dataloop) and whose environment has none.
    """
    import shlex
    import shutil

    from movinet_pipeline.components.build_tfrecords.build import build_tfrecords as run_step
    from movinet_pipeline.core import layouts
    from movinet_pipeline.core.config import read_config
    from movinet_pipeline.core.examples.job import artifact_location
    from movinet_pipeline.core.step_runtime import begin_step

    begin_step("build_tfrecords")
    beam_args = shlex.split(beam_options)
    stats = run_step(artifact_location(dataset.path, dataset.uri, beam_args),
                     artifact_location(examples.path, examples.uri, beam_args), read_config(config.path), beam_args,
                     dataloop_secret)
    shutil.copy(layouts.Examples(examples.path).contact_sheet, contact_sheet.path)
    examples.metadata.update({key: stats[key] for key in ("clips", "clips_encoded", "clips_reused", "skipped",
                                                          "frames")})

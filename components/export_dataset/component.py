"""KFP component: export a dataset (a Dataloop download folder) to the exported-dataset contract."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from movinet_pipeline.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def export_dataset(source: str, dataset: Output[Dataset]):
    """`source`: a Dataloop download folder (items/ + json/)."""
    from components.export_dataset.export import export_local
    from movinet_pipeline.logs import setup_logging

    setup_logging()
    summary = export_local(source, dataset.path)
    dataset.metadata.update({"clips": summary.clips, "labels": summary.labels, "skipped": summary.skipped,
                             "clips_per_subset": summary.clips_per_subset})

"""KFP component: export a dataset (Dataloop, or a Dataloop download folder) to the exported-dataset contract."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from movinet_pipeline.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def export_dataset(source: str, dataset: Output[Dataset], dataloop_filter: str = "", subset_filters: str = ""):
    """`source`: `dataloop://<dataset-id>` or a Dataloop download folder (items/ + json/). For Dataloop,
    `dataloop_filter` is a DQL filter (JSON) and `subset_filters` maps subsets to DQL filters (JSON)."""
    from components.export_dataset.export import export
    from movinet_pipeline.logs import setup_logging

    setup_logging()
    summary = export(source, dataset.path, dataloop_filter, subset_filters)
    dataset.metadata.update({"clips": summary.clips, "labels": summary.labels, "skipped": summary.skipped,
                             "clips_per_subset": summary.clips_per_subset})

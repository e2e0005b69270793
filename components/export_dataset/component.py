"""KFP component: export a dataset (Dataloop, or a Dataloop download folder) to the exported-dataset contract."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from movinet_pipeline.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def export_dataset(source: str, dataset: Output[Dataset], dataloop_filter: str = "", subset_filters: str = "",
                   content_key: str = "", dataloop_secret: str = ""):
    """`source`: `dataloop://<dataset-id>` or a Dataloop download folder (items/ + json/). For Dataloop,
    `dataloop_filter` is a DQL filter (JSON) and `subset_filters` maps subsets to DQL filters (JSON).
    `content_key` (from dataset_fingerprint) makes KFP's cache key follow the data, not just the source name.
    `dataloop_secret`: Secret Manager secret with the credentials, read when the environment has none (Vertex AI)."""
    from components.export_dataset.export import export
    from movinet_pipeline.dataloop import use_credentials_secret
    from movinet_pipeline.logs import setup_logging

    setup_logging()
    use_credentials_secret(dataloop_secret)
    summary = export(source, dataset.path, dataloop_filter, subset_filters)
    dataset.metadata.update({"content_key": content_key, "clips": summary.clips, "labels": summary.labels, "skipped": summary.skipped,
                             "clips_per_subset": summary.clips_per_subset})


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def dataset_fingerprint(source: str, dataloop_filter: str = "", subset_filters: str = "",
                        dataloop_secret: str = "") -> str:
    """The content key of `source` (item and annotation metadata); never cached, cheap. `dataloop_secret` as in
    export_dataset."""
    from components.export_dataset.fingerprint import source_fingerprint
    from movinet_pipeline.dataloop import use_credentials_secret
    from movinet_pipeline.logs import setup_logging

    setup_logging()
    use_credentials_secret(dataloop_secret)
    return source_fingerprint(source, dataloop_filter, subset_filters)

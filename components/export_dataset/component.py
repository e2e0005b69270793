"""KFP component: export a dataset (Dataloop, or a Dataloop download folder) to the exported-dataset contract."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from movinet_pipeline.core.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def export_dataset(source: str, dataset: Output[Dataset], dataloop_filter: str = "", subset_filters: str = "",
                   content_key: str = "", dataloop_secret: str = ""):
    """Export the dataset to the exported-dataset contract.

    `source`: `dataloop://<dataset-id>` or a Dataloop download folder (items/ + json/). For Dataloop,
    `dataloop_filter` is a DQL filter (JSON) and `subset_filters` maps subsets to DQL filters (JSON).
    `content_key` (from dataset_fingerprint) makes KFP's cache key follow the data, not just the source name.
    `dataloop_secret`: Secret Manager secret with the credentials, read when the environment has none (Vertex AI).
    """
    from movinet_pipeline.core.clients.dataloop import use_credentials_secret
    from movinet_pipeline.core.logs import setup_logging
    from movinet_pipeline.core.sources import dataset_source

    setup_logging()
    use_credentials_secret(dataloop_secret)
    summary = dataset_source(source, dataloop_filter, subset_filters).export(dataset.path)
    dataset.metadata.update({"content_key": content_key, "clips": summary.clips, "labels": summary.labels,
                             "skipped": summary.skipped,
                             "clips_per_subset": summary.clips_per_subset})


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def dataset_fingerprint(source: str, dataloop_filter: str = "", subset_filters: str = "",
                        dataloop_secret: str = "") -> str:
    """The content key of `source` (item and annotation metadata); never cached, cheap.

    `dataloop_secret` as in export_dataset.
    """
    from movinet_pipeline.core.clients.dataloop import use_credentials_secret
    from movinet_pipeline.core.logs import setup_logging
    from movinet_pipeline.core.sources import source_content_key

    setup_logging()
    use_credentials_secret(dataloop_secret)
    return source_content_key(source, dataloop_filter, subset_filters)

"""KFP component: export a dataset (Dataloop, or a Dataloop download folder) to the exported-dataset contract."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from movinet_pipeline.core.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def export_dataset(source: str, dataset: Output[Dataset], dataloop_filter: str = "", subset_filters: str = "",
                   export_options: str = "{}", content_key: str = "", dataloop_secret: str = "",
                   beam_options: str = ""):
    """Export the dataset to the exported-dataset contract.

    Args:
        source: dataloop://<dataset-id>, or a Dataloop download folder (items/ + json/).
        dataset: The exported dataset (manifest.jsonl, labels.json, errors.jsonl, export.json, the videos).
        dataloop_filter: Dataloop only: a DQL condition (JSON) narrowing the items.
        subset_filters: Dataloop only: JSON mapping train / validation / test to DQL conditions.
        export_options: From make_config: the export keys, and the sampling options that key the clip cache.
        content_key: From dataset_fingerprint: makes KFP's cache key follow the data, not only the source's name.
        dataloop_secret: Secret Manager secret with the credentials, read when the environment has none (Vertex AI).
        beam_options: The TFRecord job's Beam flags: with a remote runner (and video_download auto), the export leaves
            a Dataloop dataset's videos for the Beam workers to fetch.
    """
    import shlex

    from apache_beam.options.pipeline_options import PipelineOptions

    from movinet_pipeline.core.clients.dataloop import use_credentials_secret
    from movinet_pipeline.core.examples.job import runs_locally
    from movinet_pipeline.core.sources import dataset_source
    from movinet_pipeline.core.step_runtime import begin_step

    begin_step("export_dataset")
    use_credentials_secret(dataloop_secret)
    remote_runner = not runs_locally(PipelineOptions(shlex.split(beam_options)))
    summary = dataset_source(source, dataloop_filter, subset_filters, export_options,
                             remote_runner).export(dataset.path)
    dataset.metadata.update({"content_key": content_key, "clips": summary.clips, "labels": summary.labels,
                             "skipped": summary.skipped, "clips_per_subset": summary.clips_per_subset,
                             "model_annotations_excluded": summary.model_annotations_excluded})


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def dataset_fingerprint(source: str, dataloop_filter: str = "", subset_filters: str = "",
                        export_options: str = "{}", dataloop_secret: str = "") -> str:
    """The content key of `source` (item and annotation metadata); never cached, cheap.

    Args:
        source: dataloop://<dataset-id>, or a Dataloop download folder.
        dataloop_filter: Dataloop only: a DQL condition (JSON) narrowing the items.
        subset_filters: Dataloop only: JSON mapping subsets to DQL conditions.
        export_options: From make_config: the export keys, and the sampling options that key the clip cache.
        dataloop_secret: Secret Manager secret with the credentials, read when the environment has none.

    Returns:
        A hash of the selected items' and annotations' metadata.
    """
    from movinet_pipeline.core.clients.dataloop import use_credentials_secret
    from movinet_pipeline.core.sources import source_content_key
    from movinet_pipeline.core.step_runtime import begin_step

    begin_step("dataset_fingerprint")
    use_credentials_secret(dataloop_secret)
    return source_content_key(source, dataloop_filter, subset_filters, export_options)

"""KFP component: resolve and fetch the baseline model evaluate compares the candidate with (never cached)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from movinet_pipeline.core.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def resolve_baseline(dataset: Input[Dataset], baseline: Output[Model], reference: str = "", registry: str = "",
                     dataloop_secret: str = ""):
    """Fetch the model serving now into `baseline`.

    Args:
        dataset: The exported dataset; its source picks the newest registered model when `reference` is empty.
        baseline: The fetched model folder (empty but for baseline.json when there is no baseline).
        reference: dataloop://<model-id> or a model folder; empty: the newest model in `registry` for the same
            dataset source; none: no baseline.
        registry: dataloop://<project-id> or a local registry folder.
        dataloop_secret: Secret Manager secret with the Dataloop credentials, read when the environment has none.
    """
    from movinet_pipeline.components.resolve_baseline.resolve import resolve_baseline as run_resolution
    from movinet_pipeline.core.clients.dataloop import use_credentials_secret
    from movinet_pipeline.core.step_runtime import begin_step

    begin_step("resolve_baseline")
    use_credentials_secret(dataloop_secret)
    found = run_resolution(reference, registry, dataset.path, baseline.path)
    baseline.metadata.update({"reference": found})

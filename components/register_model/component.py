"""KFP component: register the blessed model in Dataloop or a local registry folder."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from movinet_pipeline.core.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def register_model(model: Input[Model], evaluation: Input[Artifact], dataset: Input[Dataset],
                   registered: Output[Artifact], registry: str = "", run_id: str = "", job_name: str = "",
                   base_model_id: str = "", dataloop_secret: str = ""):
    """Register the blessed model in Dataloop or a local registry folder.

    Args:
        model: The trained model folder.
        evaluation: Its evaluation (metrics become the registered model's metrics).
        dataset: The exported dataset, for lineage.
        registered: registered.json (what was registered where); the registry itself when `registry` is empty.
        registry: dataloop://<project-id> or a local registry folder (empty: this step's own output folder).
        run_id: Idempotency key; empty means the pipeline job's name, so a retried step updates the same model.
        job_name: The pipeline job's name (set by the pipeline).
        base_model_id: Dataloop model to clone (empty: create through the project's MoViNet app).
        dataloop_secret: Secret Manager secret with the credentials, read when the environment has none.
    """
    from pathlib import Path

    from movinet_pipeline.core import layouts
    from movinet_pipeline.core.clients.dataloop import use_credentials_secret
    from movinet_pipeline.core.registries import model_registry
    from movinet_pipeline.core.step_runtime import begin_step

    begin_step("register_model")
    use_credentials_secret(dataloop_secret)
    record = model_registry(registry or registered.path).register(
        Path(model.path), Path(evaluation.path), run_id or job_name, Path(dataset.path), base_model_id or None)
    layouts.write_registration_record(registered.path, record)
    registered.metadata.update(record)

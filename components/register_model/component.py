"""KFP component: register the blessed model (local registry folder when no Dataloop target is configured)."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from movinet_pipeline.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def register_model(model: Input[Model], evaluation: Input[Artifact], dataset: Input[Dataset],
                   registered: Output[Artifact], registry: str = "", run_id: str = "", job_name: str = ""):
    """`registry`: a local registry folder (empty: this step's own output folder). `run_id` keys idempotency;
    empty means the pipeline job's name, so a retried step updates the same model."""
    from components.register_model.local_registry import register_local
    from movinet_pipeline.logs import setup_logging

    setup_logging()
    target = register_local(model.path, evaluation.path, registry or registered.path, run_id or job_name,
                            dataset.path)
    registered.metadata.update({"registry": registry or registered.path, "model_folder": str(target)})

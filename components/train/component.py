"""KFP component: fine-tune a base-mode MoViNet on the TFRecords (here, or as a multi-worker Vertex AI custom job)."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from movinet_pipeline.core.images import TRAINER_IMAGE


@dsl.component(base_image=TRAINER_IMAGE, install_kfp_package=False)
def train(examples: Input[Dataset], config: Input[Artifact], model: Output[Model], train_replicas: int = 1,
          train_machine_type: str = "n1-standard-8", replica_accelerator_type: str = "",
          replica_accelerator_count: int = 0,
          project: str = "", location: str = ""):
    """Fine-tune a base-mode MoViNet on the TFRecords.

    Args:
        examples: The TFRecords (train and validation).
        config: The run's configuration (config.json).
        model: The model folder: SavedModel, weights file, labels, config, history, TensorBoard logs, checkpoints.
        train_replicas: 1 trains in this step; more runs a Vertex AI custom job of that many replicas (one chief).
        train_machine_type: The custom job's machine type.
        replica_accelerator_type: The custom job's GPU type per replica (Vertex AI's name; not `accelerator_type`,
            which KFP's compiler uses for the step's own GPUs).
        replica_accelerator_count: GPUs per replica of the custom job.
        project: The Vertex AI project (the compiler gives Vertex AI's placeholder).
        location: The Vertex AI region (likewise).
    """
    import os

    from movinet_pipeline.core.config import read_config
    from movinet_pipeline.core.model.training import history_summary
    from movinet_pipeline.core.step_runtime import begin_step

    begin_step("train")
    metadata = {"framework": "tensorflow", "replicas": train_replicas}
    if train_replicas > 1:
        from movinet_pipeline.core.clients.vertex_training import ENDPOINT_VARIABLE, WorkerPools, run_training_job
        from movinet_pipeline.core.images import TRAINER_IMAGE

        pools = WorkerPools(train_replicas, train_machine_type, replica_accelerator_type,
                            replica_accelerator_count)
        metadata["vertex_custom_job"] = run_training_job(
            project, location, f"movinet-train-{os.path.basename(model.uri.rstrip('/'))}", pools, TRAINER_IMAGE,
            examples.uri, model.uri, config.uri, os.environ.get(ENDPOINT_VARIABLE))
    else:
        from movinet_pipeline.core.model.training import train as run_training

        metadata["pretrained"] = run_training(examples.path, model.path, read_config(config.path)).pretrained
    model.metadata.update({**metadata, **history_summary(model.path)})

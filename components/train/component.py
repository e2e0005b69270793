"""KFP component: fine-tune a base-mode MoViNet on the TFRecords."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from movinet_pipeline.core.images import TRAINER_IMAGE


@dsl.component(base_image=TRAINER_IMAGE, install_kfp_package=False)
def train(examples: Input[Dataset], config: Input[Artifact], model: Output[Model]):
    """Fine-tune a base-mode MoViNet on the TFRecords.

    Args:
        examples: The TFRecords (train and validation).
        config: The run's configuration (config.json).
        model: The model folder: SavedModel, weights file, labels, config, history, TensorBoard logs, checkpoints.
    """
    from movinet_pipeline.core.config import read_config
    from movinet_pipeline.core.model.training import train as run_training
    from movinet_pipeline.core.step_runtime import begin_step

    begin_step("train")
    summary = run_training(examples.path, model.path, read_config(config.path))
    model.metadata.update({"framework": "tensorflow", "best_val_accuracy": summary.best_val_accuracy,
                           "epochs": summary.epochs, "pretrained": summary.pretrained})

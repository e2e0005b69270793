"""The training pipeline: config -> export -> build TFRecords -> train -> evaluate -> [blessed] register."""

from kfp import dsl

from components.evaluate.component import evaluate
from components.make_config.component import make_config
from components.report_status.component import report_status
from components.train.component import train
from pipelines.platform import GpuParameters, configure
from pipelines.stages import dataset_stage, register_stage

PIPELINE_NAME = "movinet-training"


METADATA = dict(name=PIPELINE_NAME, description="Fine-tune a MoViNet video classifier on a Dataloop dataset and "
                "register it back (export, Beam TFRecords, train, evaluate, gate, register).")


def training_steps(
    source: str,
    hub_version: int = 3,
    model_id: str = "a0",
    model_mode: str = "base",
    imgz: int = 224,
    batch_size: int = 2,
    num_epochs: int = 8,
    n_frames: int = 13,
    top_k: int = 3,
    learning_rate: float = 0.001,
    extra_config: str = "{}",
    beam_options: str = "",
    registry: str = "",
    run_id: str = "",
    dataloop_filter: str = "",
    subset_filters: str = "",
    base_model_id: str = "",
    baseline_model: str = "",
    dataloop_secret: str = "dataloop-credentials",
    accelerator_type: str = "nvidia.com/gpu",
    accelerator_count: int = 1,
    gpu_node_selector: dict = {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"},  # noqa: B006 (KFP default)
):
    """`source`: `dataloop://<dataset-id>` or a Dataloop download folder; `extra_config`: JSON of further
    configuration keys (see README); `beam_options`: Beam flags for the TFRecord job; `registry`:
    `dataloop://<project-id>` or a local registry folder (empty: the step's output); `run_id`: idempotency key of
    the registration (empty: the pipeline job's name); `dataloop_filter` / `subset_filters`: DQL (JSON) selecting
    items / assigning subsets; `base_model_id`: Dataloop model to clone; `baseline_model`: the model serving now
    (dataloop://<model-id> or a model folder; empty: the newest model registered in `registry` for the same dataset
    source; `none`: no baseline), which the candidate must match or beat on the same clips (see `min_improvement`); `dataloop_secret`: the secret holding the
    Dataloop credentials of the export and register steps, by name: on Kubeflow a Kubernetes secret whose keys
    (api-key, or m2m-email + m2m-password; optional env) become environment variables; on Vertex AI a Secret Manager
    secret (a name in the job's project, or projects/<p>/secrets/<s>[/versions/<v>]) holding the API key or a JSON
    object of those keys. Credentials themselves are never parameters."""
    gpu = GpuParameters(accelerator_type, accelerator_count, gpu_node_selector)
    with dsl.ExitHandler(report_status(run_id=run_id).set_display_name("report run status"), name="run"):
        config_task = configure(make_config(
            hub_version=hub_version, model_id=model_id, model_mode=model_mode, imgz=imgz, batch_size=batch_size,
            num_epochs=num_epochs, n_frames=n_frames, top_k=top_k, learning_rate=learning_rate,
            extra_config=extra_config), "make_config").set_display_name("validate configuration")
        export_task, examples_task = dataset_stage(source, dataloop_filter, subset_filters, dataloop_secret,
                                                   config_task, beam_options)
        train_task = configure(train(examples=examples_task.outputs["examples"], config=config_task.outputs["config"]),
                               "train", gpu=gpu).set_display_name("fine-tune MoViNet")
        evaluate_task = configure(evaluate(model=train_task.outputs["model"],
                                           examples=examples_task.outputs["examples"],
                                           dataset=export_task.outputs["dataset"], baseline=baseline_model,
                                           registry=registry, dataloop_secret=dataloop_secret),
                                  "evaluate", dataloop_secret, gpu=gpu).set_display_name("evaluate and gate")
        with dsl.If(evaluate_task.outputs["Output"] == True, name="blessed"):  # noqa: E712 (KFP condition syntax)
            register_stage(train_task.outputs["model"], evaluate_task.outputs["evaluation"], export_task, registry,
                           run_id, base_model_id, dataloop_secret, "register model")


training_pipeline = dsl.pipeline(**METADATA)(training_steps)  # as run locally (no accelerators)

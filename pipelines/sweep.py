"""The sweep pipeline: one export and one set of TFRecords, then train + evaluate each `model_id` in parallel, pick
the best by an evaluation metric, and register only that one (if blessed)."""

from typing import List

from kfp import dsl

from components.evaluate.component import evaluate
from components.make_config.component import make_config
from components.report_status.component import report_status
from components.select_best.component import select_best
from components.train.component import train
from pipelines.platform import GpuParameters, configure
from pipelines.stages import dataset_stage, register_stage

PIPELINE_NAME = "movinet-sweep"


METADATA = dict(name=PIPELINE_NAME, description="Fine-tune several MoViNet architectures on one Dataloop dataset, "
                "evaluate each, register the best.")


def sweep_steps(
    source: str,
    model_ids: List[str] = ["a0", "a1", "a2"],  # noqa: B006 (KFP reads the default from the signature)
    hub_version: int = 3,
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
    selection_metric: str = "top1_accuracy",
    dataloop_secret: str = "dataloop-credentials",
    accelerator_type: str = "nvidia.com/gpu",
    accelerator_count: int = 1,
    gpu_node_selector: dict = {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"},  # noqa: B006 (KFP default)
):
    """As the training pipeline, with `model_ids` (the architectures to compare) instead of `model_id`, and
    `selection_metric` (a number in the evaluation's metrics.json, higher is better)."""
    shared = dict(hub_version=hub_version, model_mode=model_mode, imgz=imgz, batch_size=batch_size,
                  num_epochs=num_epochs, n_frames=n_frames, top_k=top_k, learning_rate=learning_rate,
                  extra_config=extra_config)
    gpu = GpuParameters(accelerator_type, accelerator_count, gpu_node_selector)
    with dsl.ExitHandler(report_status(run_id=run_id).set_display_name("report run status"), name="run"):
        records_config = configure(make_config(**shared), "make_config").set_display_name("validate configuration")
        export_task, examples_task = dataset_stage(source, dataloop_filter, subset_filters, dataloop_secret,
                                                   records_config, beam_options)
        # Loop bodies take pipeline parameters and upstream artifacts only (kfp.local substitutes the loop item for
        # an upstream task's parameter output inside ParallelFor).
        with dsl.ParallelFor(model_ids, name="each model_id") as model_id:
            config_task = configure(make_config(model_id=model_id, **shared), "make_config")
            config_task.set_display_name("configuration for model_id")
            train_task = configure(train(examples=examples_task.outputs["examples"],
                                         config=config_task.outputs["config"]), "train", gpu=gpu)
            train_task.set_display_name("fine-tune MoViNet")
            evaluate_task = configure(evaluate(model=train_task.outputs["model"],
                                               examples=examples_task.outputs["examples"],
                                               dataset=export_task.outputs["dataset"], baseline=baseline_model,
                                               registry=registry, dataloop_secret=dataloop_secret),
                                      "evaluate", dataloop_secret, gpu=gpu)
            evaluate_task.set_display_name("evaluate")
        select_task = configure(select_best(models=dsl.Collected(train_task.outputs["model"]),
                                            evaluations=dsl.Collected(evaluate_task.outputs["evaluation"]),
                                            metric=selection_metric), "select_best")
        select_task.set_display_name("select the best model_id")
        with dsl.If(select_task.outputs["Output"] == True, name="best is blessed"):  # noqa: E712 (KFP syntax)
            register_stage(select_task.outputs["best_model"], select_task.outputs["best_evaluation"], export_task,
                           registry, run_id, base_model_id, dataloop_secret, "register the best model")


sweep_pipeline = dsl.pipeline(**METADATA)(sweep_steps)  # as run locally (no accelerators)

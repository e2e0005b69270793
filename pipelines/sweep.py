"""The sweep pipeline: one dataset, several architectures, the best registered.

The sweep pipeline: one export and one set of TFRecords, then train + evaluate each `model_id` in parallel, pick
the best by an evaluation metric, and register only that one (if blessed).
"""

from types import SimpleNamespace

from kfp import dsl

from movinet_pipeline.components.make_config.component import make_config
from movinet_pipeline.components.report_status.component import report_status
from movinet_pipeline.components.select_best.component import select_best
from movinet_pipeline.core import parameters
from movinet_pipeline.pipelines.platform import GpuParameters, configure
from movinet_pipeline.pipelines.signature import declared
from movinet_pipeline.pipelines.stages import baseline_stage, dataset_stage, evaluate_stage, register_stage, train_stage

PIPELINE_NAME = "movinet-sweep"
METADATA = dict(name=PIPELINE_NAME, description="Fine-tune several MoViNet architectures on one Dataloop dataset, "
                "evaluate each, register the best.")


@declared(parameters.SWEEP, METADATA["description"])
def sweep_steps(p: SimpleNamespace) -> None:
    """The tasks of one sweep (see `declared` for the parameters)."""
    shared = {key.name: getattr(p, key.name) for key in parameters.CONFIG if key.name != "model_id"}
    gpu = GpuParameters(p.accelerator_type, p.accelerator_count, p.gpu_node_selector)
    with dsl.ExitHandler(report_status(run_id=p.run_id).set_display_name("report run status"), name="run"):
        records_config = configure(make_config(**shared, extra_config=p.extra_config), "make_config")
        records_config.set_display_name("validate configuration")
        export_task, examples_task = dataset_stage(p, records_config)
        baseline_task = baseline_stage(p, export_task)
        # Loop bodies take pipeline parameters and upstream artifacts only (kfp.local substitutes the loop item for
        # an upstream task's parameter output inside ParallelFor).
        with dsl.ParallelFor(p.model_ids, name="each model_id") as model_id:
            config_task = configure(make_config(model_id=model_id, **shared, extra_config=p.extra_config),
                                    "make_config").set_display_name("configuration for model_id")
            train_task = train_stage(p, examples_task, config_task, gpu)
            evaluate_task = evaluate_stage(train_task, examples_task, baseline_task, gpu, "evaluate")
        select_task = configure(select_best(models=dsl.Collected(train_task.outputs["model"]),
                                            evaluations=dsl.Collected(evaluate_task.outputs["evaluation"]),
                                            metric=p.selection_metric), "select_best")
        select_task.set_display_name("select the best model_id")
        with dsl.If(select_task.outputs["Output"] == True, name="best is blessed"):  # noqa: E712 (KFP syntax)
            register_stage(p, select_task.outputs["best_model"], select_task.outputs["best_evaluation"], export_task,
                           "register the best model")


sweep_pipeline = dsl.pipeline(**METADATA)(sweep_steps)  # as run locally (no accelerators)

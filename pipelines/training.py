"""The training pipeline: config -> export -> TFRecords -> train -> baseline -> evaluate -> [blessed] register."""

from types import SimpleNamespace

from kfp import dsl

from movinet_pipeline.components.make_config.component import make_config
from movinet_pipeline.components.report_status.component import report_status
from movinet_pipeline.core import parameters
from movinet_pipeline.pipelines.platform import GpuParameters, configure
from movinet_pipeline.pipelines.signature import declared
from movinet_pipeline.pipelines.stages import baseline_stage, dataset_stage, evaluate_stage, register_stage, train_stage

PIPELINE_NAME = "movinet-training"
METADATA = dict(name=PIPELINE_NAME, description="Fine-tune a MoViNet video classifier on a Dataloop dataset and "
                "register it back (export, Beam TFRecords, train, evaluate against the serving model, gate, register).")


@declared(parameters.TRAINING, METADATA["description"])
def training_steps(p: SimpleNamespace) -> None:
    """The tasks of one run (see `declared` for the parameters)."""
    gpu = GpuParameters(p.accelerator_type, p.accelerator_count, p.gpu_node_selector)
    with dsl.ExitHandler(report_status(run_id=p.run_id).set_display_name("report run status"), name="run"):
        config_task = configure(make_config(**{key.name: getattr(p, key.name) for key in parameters.CONFIG},
                                            extra_config=p.extra_config), "make_config")
        config_task.set_display_name("validate configuration")
        export_task, examples_task = dataset_stage(p, config_task)
        train_task = train_stage(p, examples_task, config_task, gpu)
        evaluate_task = evaluate_stage(train_task, examples_task, baseline_stage(p, export_task), gpu,
                                       "evaluate and gate")
        with dsl.If(evaluate_task.outputs["Output"] == True, name="blessed"):  # noqa: E712 (KFP condition syntax)
            register_stage(p, train_task.outputs["model"], evaluate_task.outputs["evaluation"], export_task,
                           "register model")


training_pipeline = dsl.pipeline(**METADATA)(training_steps)  # as run locally (no accelerators)

"""Pipeline stages both pipelines share.

Pipeline stages both pipelines share: the dataset (content key -> export -> Beam TFRecords), the baseline and
evaluation, and registration.

Called inside a pipeline function with its parameters `p`: the tasks they create belong to it. `dataloop_secret` is
the secret's name: on Kubeflow the Kubernetes secret set as environment variables (`configure`), and everywhere the
Secret Manager secret a step reads when its environment has no credentials (how Vertex AI steps get them).
"""

from __future__ import annotations

from types import SimpleNamespace

from kfp import dsl
from kfp.dsl import PipelineTask

from movinet_pipeline.components.build_tfrecords.component import build_tfrecords
from movinet_pipeline.components.evaluate.component import evaluate
from movinet_pipeline.components.export_dataset.component import dataset_fingerprint, export_dataset
from movinet_pipeline.components.register_model.component import register_model
from movinet_pipeline.components.resolve_baseline.component import resolve_baseline
from movinet_pipeline.components.train.component import train
from movinet_pipeline.pipelines.platform import GpuParameters, configure, vertex_location


def dataset_stage(p: SimpleNamespace, config_task: PipelineTask) -> tuple[PipelineTask, PipelineTask]:
    """The export task (cached by the dataset's content key) and the TFRecords task built from it."""
    options = config_task.outputs["export_options"]
    key_task = configure(dataset_fingerprint(source=p.source, dataloop_filter=p.dataloop_filter,
                                             subset_filters=p.subset_filters, export_options=options,
                                             dataloop_secret=p.dataloop_secret),
                         "dataset_fingerprint", p.dataloop_secret)
    key_task.set_caching_options(False).set_display_name("dataset content key")
    export_task = configure(export_dataset(source=p.source, dataloop_filter=p.dataloop_filter,
                                           subset_filters=p.subset_filters, export_options=options,
                                           content_key=key_task.output, dataloop_secret=p.dataloop_secret,
                                           beam_options=p.beam_options),
                            "export_dataset", p.dataloop_secret).set_display_name("export dataset")
    examples_task = configure(build_tfrecords(dataset=export_task.outputs["dataset"],
                                              config=config_task.outputs["config"], beam_options=p.beam_options,
                                              dataloop_secret=p.dataloop_secret),
                              "build_tfrecords", p.dataloop_secret).set_display_name("build TFRecords (Beam)")
    return export_task, examples_task


def train_stage(p: SimpleNamespace, examples_task: PipelineTask, config_task: PipelineTask,
                gpu: GpuParameters) -> PipelineTask:
    """Fine-tune on the examples: in the step, or (train_replicas > 1, Vertex AI) as a multi-worker custom job."""
    task = train(examples=examples_task.outputs["examples"], config=config_task.outputs["config"],
                 train_replicas=p.train_replicas, train_machine_type=p.train_machine_type,
                 replica_accelerator_type=gpu.type, replica_accelerator_count=gpu.count, **vertex_location())
    return configure(task, "train", gpu=gpu).set_display_name("fine-tune MoViNet")


def baseline_stage(p: SimpleNamespace, export_task: PipelineTask) -> PipelineTask:
    """The model serving now, fetched for evaluate (never cached: the newest registered model changes)."""
    task = configure(resolve_baseline(dataset=export_task.outputs["dataset"], reference=p.baseline_model,
                                      registry=p.registry, dataloop_secret=p.dataloop_secret),
                     "resolve_baseline", p.dataloop_secret)
    return task.set_caching_options(False).set_display_name("resolve the baseline model")


def evaluate_stage(train_task: PipelineTask, examples_task: PipelineTask, baseline_task: PipelineTask,
                   gpu: GpuParameters, display_name: str) -> PipelineTask:
    """Score and gate the trained model against the baseline on the same clips."""
    task = evaluate(model=train_task.outputs["model"], examples=examples_task.outputs["examples"],
                    baseline=baseline_task.outputs["baseline"])
    return configure(task, "evaluate", gpu=gpu).set_display_name(display_name)


def register_stage(p: SimpleNamespace, model, evaluation, export_task: PipelineTask, display_name: str) -> PipelineTask:
    """Register `model` with its `evaluation` (call inside the pipeline's `blessed` condition)."""
    task = register_model(model=model, evaluation=evaluation, dataset=export_task.outputs["dataset"],
                          registry=p.registry, run_id=p.run_id, base_model_id=p.base_model_id,
                          job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER, dataloop_secret=p.dataloop_secret)
    return configure(task, "register_model", p.dataloop_secret).set_display_name(display_name)

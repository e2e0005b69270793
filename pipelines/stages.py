"""Pipeline stages both pipelines share: the dataset (content key -> export -> Beam TFRecords) and registration.

Called inside a pipeline function: the tasks they create belong to it. `dataloop_secret` is the secret's name: on
Kubeflow the Kubernetes secret set as environment variables (`configure`), and everywhere the Secret Manager
secret a step reads when its environment has no credentials (how Vertex AI steps get them).
"""

from __future__ import annotations

from kfp import dsl
from kfp.dsl import PipelineTask

from components.build_tfrecords.component import build_tfrecords
from components.export_dataset.component import dataset_fingerprint, export_dataset
from components.register_model.component import register_model
from pipelines.platform import configure


def dataset_stage(source, dataloop_filter, subset_filters, dataloop_secret, config_task: PipelineTask,
                  beam_options) -> tuple[PipelineTask, PipelineTask]:
    """The export task (cached by the dataset's content key) and the TFRecords task built from it."""
    key_task = configure(dataset_fingerprint(source=source, dataloop_filter=dataloop_filter,
                                             subset_filters=subset_filters, dataloop_secret=dataloop_secret),
                         "dataset_fingerprint", dataloop_secret)
    key_task.set_caching_options(False).set_display_name("dataset content key")
    export_task = configure(export_dataset(source=source, dataloop_filter=dataloop_filter,
                                           subset_filters=subset_filters, content_key=key_task.output,
                                           dataloop_secret=dataloop_secret).after(config_task),
                            "export_dataset", dataloop_secret).set_display_name("export dataset")
    examples_task = configure(build_tfrecords(dataset=export_task.outputs["dataset"],
                                              config=config_task.outputs["config"], beam_options=beam_options),
                              "build_tfrecords").set_display_name("build TFRecords (Beam)")
    return export_task, examples_task


def register_stage(model, evaluation, export_task: PipelineTask, registry, run_id, base_model_id, dataloop_secret,
                   display_name: str) -> PipelineTask:
    """Register `model` with its `evaluation` (call inside the pipeline's `blessed` condition)."""
    task = register_model(model=model, evaluation=evaluation, dataset=export_task.outputs["dataset"],
                          registry=registry, run_id=run_id, base_model_id=base_model_id,
                          job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER, dataloop_secret=dataloop_secret)
    return configure(task, "register_model", dataloop_secret).set_display_name(display_name)

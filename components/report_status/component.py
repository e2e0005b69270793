"""KFP exit handler: report how the run ended (runs even when a step failed)."""

from kfp import dsl

from movinet_pipeline.core.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def report_status(status: dsl.PipelineTaskFinalStatus, run_id: str = ""):
    """Log the run's final state, and for a failure the failed task's error, in one line a log alert can match."""
    import logging

    from movinet_pipeline.core.step_runtime import begin_step

    begin_step("report_status")
    log = logging.getLogger("movinet_pipeline.run_status")
    name = run_id or status.pipeline_job_resource_name
    if status.state == "SUCCEEDED":
        log.info("pipeline run %s SUCCEEDED", name)
    else:
        log.error("pipeline run %s %s: %s (failed tasks: %s)", name, status.state, status.error_message or
                  "no error message", ", ".join(status.pipeline_task_name and [status.pipeline_task_name] or []))

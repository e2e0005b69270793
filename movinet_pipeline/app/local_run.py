"""Run the training pipeline locally through kfp.local (SubprocessRunner, no cluster) and report its outputs."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from movinet_pipeline.components.resolve_baseline.resolve import NO_BASELINE
from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.config import PipelineConfig
from movinet_pipeline.core.parameters import pipeline_arguments

log = logging.getLogger(__name__)
TASK_OUTPUTS = {
    "export-dataset": "dataset",
    "build-tfrecords": "examples",
    "train": "model",
    "evaluate": "evaluation",
    "register-model": "registered",
    "select-best": "summary",
}


@dataclass(frozen=True)
class LocalRunResult:
    """What a local run produced."""
    run_dir: Path
    outputs: dict[str, Path]  # task name -> its main output folder
    evaluation: Path  # the evaluation of the model the run kept (a sweep's best)
    metrics: dict
    verdict: dict
    registered: dict | None  # register_model's record: {registry, name, model_id | folder}
    examples: dict  # the examples' stats.json
    containers: list[dict] = dataclasses.field(default_factory=list)  # --runner docker: each step's container


def _location(value: str | Path) -> str:
    """A URI (dataloop://, gs://) as is, a local path made absolute (the steps run in other working directories)."""
    return str(value) if storage.is_remote(value) else str(Path(value).resolve())


def baseline_location(value: str) -> str:
    """The `baseline_model` parameter of a local run: a model folder made absolute; a URI, `none` or "" as given."""
    return value if value in ("", NO_BASELINE) else _location(value)


def run_local(source: str | Path, config: PipelineConfig, output: str | Path, registry: str | Path | None = None,
              run_id: str = "", beam_options: str = "", model_ids: list[str] | None = None,
              runner: str = "subprocess", **dataloop_options: str) -> LocalRunResult:
    """Run every step under kfp.local; outputs go under `output/kfp`.

    `runner`: `subprocess` (every step in this Python environment) or `docker` (each step in its image, see
    `app.containers`; `containers.check_images` says first whether the images are there). With `model_ids`, runs
    the sweep pipeline over them instead (registering the best). `dataloop_options`: the pipeline's
    `dataloop_filter`, `subset_filters`, `base_model_id`, `baseline_model`.
    """
    from movinet_pipeline.pipelines.sweep import sweep_pipeline
    from movinet_pipeline.pipelines.training import training_pipeline

    output = Path(output).resolve()
    pipeline_root = output / "kfp"
    registry_location = _location(registry) if registry else str(output / "registry")
    warnings.filterwarnings("ignore", message=".*non-Python base image.*")
    if "baseline_model" in dataloop_options:
        dataloop_options["baseline_model"] = baseline_location(dataloop_options["baseline_model"])
    if config.cache_root:  # a local cache folder made absolute (the steps run elsewhere)
        config = dataclasses.replace(config, cache_root=_location(config.cache_root))
    arguments = pipeline_arguments(_location(source), config, registry=registry_location, run_id=run_id,
                                   beam_options=beam_options, **dataloop_options)
    if model_ids:
        arguments.pop("model_id")
    pipeline = (lambda: sweep_pipeline(**arguments, model_ids=list(model_ids))) if model_ids else (
        lambda: training_pipeline(**arguments))
    if runner == "docker":
        return _run_in_containers(pipeline, output, pipeline_root, arguments)
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root))
    log.info("running the pipeline locally (kfp.local SubprocessRunner); outputs under %s", pipeline_root)
    pipeline()
    return collect_outputs(pipeline_root)


def _host_paths(arguments: dict, names: tuple[str, ...], create: bool = False) -> tuple[Path, ...]:
    """The local folders among these pipeline arguments (URIs and empty values are not); made when `create`."""
    paths = tuple(Path(arguments[name]) for name in names if str(arguments.get(name) or "").startswith("/"))
    for path in paths if create else ():
        path.mkdir(parents=True, exist_ok=True)
    return tuple(path for path in paths if path.exists())


def _run_in_containers(pipeline, output: Path, pipeline_root: Path, arguments: dict) -> LocalRunResult:
    """Run the pipeline with each step in its image (kfp.local's DockerRunner); the result lists the containers."""
    from kfp import local

    from movinet_pipeline.app import containers

    client = containers.docker_client()
    folders = containers.HostFolders(
        writable=(output, *_host_paths(arguments, containers.WRITABLE_ARGUMENTS, create=True)),
        read_only=_host_paths(arguments, containers.READ_ONLY_ARGUMENTS))
    pipeline_root.mkdir(parents=True, exist_ok=True)
    run_label, started = f"{os.getpid()}-{time.time_ns()}", time.time()
    with containers.owned_by_step_user(folders.writable) as user:
        local.init(runner=local.DockerRunner(**containers.run_arguments(folders, user, run_label)),
                   pipeline_root=str(pipeline_root))
        log.info("running the pipeline locally, each step in its container (kfp.local DockerRunner, user %s:%s); "
                 "outputs under %s", *user, pipeline_root)
        try:
            pipeline()
        finally:
            ran = containers.step_containers(client, started, run_label)
            (output / "containers.json").write_text(json.dumps(ran, indent=2) + "\n")
    if failed := containers.failed_containers(ran):
        raise RuntimeError(f"step container {failed[0]}" + (f" ({len(failed) - 1} more)" if len(failed) > 1 else ""))
    return dataclasses.replace(collect_outputs(pipeline_root), containers=ran)


def collect_outputs(pipeline_root: Path) -> LocalRunResult:
    """Find the newest run under `pipeline_root`, the folders its tasks wrote, and the model it registered."""
    runs = sorted((p for p in pipeline_root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise FileNotFoundError(f"no pipeline run found under {pipeline_root}")
    run_dir = runs[-1]
    outputs = {task: path for task, key in TASK_OUTPUTS.items()
               for path in run_dir.glob(f"{task}/{key}") if path.exists()}
    evaluation = outputs.get("evaluate") or run_dir / "select-best" / "best_evaluation"
    metrics = json.loads(layouts.Evaluation(evaluation).metrics.read_text())
    verdict = json.loads(layouts.Evaluation(evaluation).verdict.read_text())
    registered = layouts.read_registration_record(outputs["register-model"]) if "register-model" in outputs else None
    examples = json.loads(Path(layouts.Examples(str(outputs["build-tfrecords"])).stats).read_text())
    return LocalRunResult(run_dir, outputs, evaluation, metrics, verdict, registered, examples)

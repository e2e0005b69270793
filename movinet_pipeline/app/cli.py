"""`movinet-pipeline`: run the whole pipeline locally, compile it, or run any one step on plain folders."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from movinet_pipeline.app.preflight import PreflightError, check_registry, check_source
from movinet_pipeline.core.config import (
    EXPORT_KEYS,
    KEY_HELP,
    PROFILES,
    SAMPLING_KEYS,
    ConfigError,
    PipelineConfig,
    resolve_config,
)
from movinet_pipeline.core.media.sample_data import SampleSpec
from movinet_pipeline.core.step_runtime import FAILURE_LOG_VARIABLE, read_failures
from movinet_pipeline.pipelines.submit import SubmitError

log = logging.getLogger("movinet_pipeline")

EPILOG = ("Configuration precedence: built-in defaults < --profile < --config FILE < flags. "
          "Beam options for the TFRecord job go after `--` (e.g. -- --runner=DataflowRunner --project=p).")


class RunFailed(Exception):
    """A local pipeline run failed; the message is the failed step's own reason."""


class UsageError(Exception):
    """A command-line mistake; printed as one line."""


def add_config_flags(parser: argparse.ArgumentParser, profile_note: str = "",
                     keys: Sequence[str] | None = None) -> None:
    """Add a flag for every configuration key (or for `keys`: those the command reads), plus --config and --profile."""
    group = parser.add_argument_group("configuration", "every key of the one configuration (see README table)"
                                      if keys is None else "the configuration keys this command reads")
    group.add_argument("--config", metavar="FILE", help="YAML or JSON file of configuration keys")
    group.add_argument("--profile", choices=sorted(PROFILES) + ["none"],
                       help="preset applied under the config file and flags" + profile_note)
    defaults = PipelineConfig()
    for field in dataclasses.fields(PipelineConfig):
        if keys is not None and field.name not in keys:
            continue
        group.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, metavar=str(field.type).upper(),
                           help=f"{KEY_HELP[field.name]} [default: {getattr(defaults, field.name)}]")


def config_from_args(args: argparse.Namespace, default_profile: str | None = None) -> PipelineConfig:
    """The configuration from the flags (defaults < profile < config file < flags)."""
    overrides = {field.name: getattr(args, field.name, None) for field in dataclasses.fields(PipelineConfig)}
    profile = args.profile if args.profile is not None else default_profile
    return resolve_config(None if profile == "none" else profile, args.config, overrides)


def _require_empty(path: Path, flag: str) -> None:
    if path.exists() and any(path.iterdir()):
        raise UsageError(f"{flag} {path} is not empty; choose a new folder (nothing is overwritten)")


def cmd_run(args: argparse.Namespace) -> None:
    """`run`: the whole pipeline locally under kfp.local."""
    from movinet_pipeline.app.local_run import run_local
    from movinet_pipeline.core.media.sample_data import generate_sample_dataset

    config = config_from_args(args, default_profile=None if args.source else "cpu-sample")
    output = Path(args.output).resolve()  # the steps (in containers too) write the failure log under it
    _require_empty(output, "--output")
    check_registry(args.registry)
    if args.runner == "docker":  # before anything is written: no daemon or no image is one line
        from movinet_pipeline.app.containers import check_images, docker_client

        check_images(docker_client())
    source = args.source
    if not source:
        source = str(generate_sample_dataset(output / "sample-data"))
        log.info("no --source: using the bundled sample dataset (%s) with the %s profile", source,
                 args.profile or "cpu-sample")
    started = time.monotonic()
    model_ids = [m.strip() for m in args.model_ids.split(",") if m.strip()] if args.model_ids else None
    for model_id in model_ids or []:
        dataclasses.replace(config, model_id=model_id)  # ConfigError naming a bad model_id before any work
    check_source(source)
    failure_log = output / "failures.jsonl"
    os.environ[FAILURE_LOG_VARIABLE] = str(failure_log)  # each step appends its one-line error (step_runtime)
    try:
        result = run_local(source, config, output, args.registry, args.run_id, " ".join(args.beam_args), model_ids,
                           runner=args.runner,
                           dataloop_filter=args.filter or "", subset_filters=args.subset_filters or "",
                           base_model_id=args.base_model or "", baseline_model=args.baseline or "")
    except RuntimeError as error:
        raise RunFailed(_failure_summary(error, read_failures(failure_log))) from error
    print_run_summary(result, time.monotonic() - started)


def _failure_summary(error: RuntimeError, failures: list[dict]) -> str:
    """The failed step's own one-line reason (kfp.local's message, without colour codes, when none was recorded)."""
    if not failures:
        return re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    first = failures[0]
    more = f" ({len(failures) - 1} more step(s) failed; see the log above)" if len(failures) > 1 else ""
    return f"step {first['step']} failed: {first['error']}{more}"


def print_run_summary(result, seconds: float) -> None:
    """Print where every output went, the figures, the verdict and what was registered."""
    print(f"\nPipeline run {result.run_dir.name} finished in {seconds / 60:.1f} min.")
    for task, path in result.outputs.items():
        print(f"  {task:16s} {path}")
    metrics = result.metrics
    print(f"  report           {result.evaluation / 'report.html'}")
    stats = result.examples
    print(f"Examples: {stats['clips']} clips, {stats['clips_encoded']} encoded, {stats['clips_reused']} reused from "
          "the clip cache")
    if "select-best" in result.outputs:
        print(result.outputs["select-best"].read_text())
    print(f"Evaluation on {metrics['subset']} ({metrics['clips']} clips): top-1 accuracy "
          f"{metrics['top1_accuracy']:.3f}, top-{metrics['top_k']} accuracy {metrics['top_k_accuracy']:.3f}")
    print(f"Verdict: {'blessed' if result.verdict['blessed'] else 'NOT blessed'} ({result.verdict['reason']})")
    data = result.verdict.get("data") or {}
    print(f"Data lost before training: {data.get('lost', 0)} labelled item(s) or clip(s)"
          + (f" ({data['lost_fraction']:.1%}), listed in the examples' errors.jsonl:" if data.get("lost") else ""))
    for item in data.get("lost_items", [])[:10]:
        print(f"  {item['item']}: {item['reason']} ({item['step']})")
    if data.get("model_annotations_excluded"):
        print(f"Left out {data['model_annotations_excluded']} class annotation(s) made by a model "
              "(include_model_annotations to keep them)")
    for (reference, revision), count in Counter((c["image"], c["revision"]) for c in result.containers).items():
        print(f"Containers: {count} step(s) in {reference} (built from {revision})")
    registered = result.registered
    print(f"Registered model: {registered['name']} in {registered['registry']}"
          f" ({registered.get('model_id') or registered.get('folder')})" if registered else "Not registered.")


def cmd_compile(args: argparse.Namespace) -> None:
    """`compile`: write a pipeline's YAML for a target."""
    from movinet_pipeline.pipelines.compile import compile_pipeline, read_image_digests

    digests = None
    if args.images:
        if not args.output:
            raise UsageError("--images needs --output: the committed pipeline files name the version tags")
        try:
            digests = read_image_digests(args.images)
        except (ValueError, KeyError) as error:  # json.JSONDecodeError is a ValueError
            raise UsageError(f"--images {args.images}: not a record of images/build.py ({error})") from None
    try:
        path = compile_pipeline(args.pipeline, args.output, args.target, args.accelerator_type,
                                args.accelerator_count, digests)
    except ValueError as error:
        raise UsageError(str(error)) from None
    print(f"compiled the {args.pipeline} pipeline for {args.target} to {path}")


def submission_parameters(args: argparse.Namespace) -> dict:
    """Pipeline parameters from --params-file (YAML/JSON mapping), then --param KEY=VALUE flags."""
    import yaml

    values: dict = {}
    if args.params_file:
        loaded = yaml.safe_load(Path(args.params_file).read_text()) or {}
        if not isinstance(loaded, dict):
            raise UsageError(f"--params-file {args.params_file} must hold a mapping of parameter: value")
        values.update(loaded)
    for item in args.param or []:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise UsageError(f"--param {item!r} must look like KEY=VALUE")
        values[key.strip().replace("-", "_")] = value
    return values


def _vertex_target(args: argparse.Namespace):
    """The Vertex AI location when --vertex-project is given, else None (Kubeflow Pipelines at --host)."""
    from movinet_pipeline.pipelines.submit import VertexTarget

    if not args.vertex_project:
        if not args.host:
            raise UsageError("say where to submit: --host URL (Kubeflow Pipelines; or $KFP_HOST) or "
                             "--vertex-project P --region R --pipeline-root gs://... (Vertex AI)")
        return None
    if not (args.region and args.pipeline_root):
        raise UsageError("Vertex AI needs --region and --pipeline-root (a gs:// folder for the run's artifacts)")
    return VertexTarget(args.vertex_project, args.region, args.pipeline_root, args.service_account,
                        args.vertex_endpoint)


def cmd_submit(args: argparse.Namespace) -> None:
    """`submit`: upload the pipeline and start a run (KFP or Vertex AI)."""
    from movinet_pipeline.pipelines.submit import FINISHED_OK, submit, submit_vertex

    vertex = _vertex_target(args)
    with contextlib.redirect_stdout(sys.stderr):  # the clients print links; stdout stays one JSON document
        if vertex:
            result = submit_vertex(vertex, args.pipeline_file, submission_parameters(args), args.run_name, args.wait)
        else:
            result = submit(args.host, args.pipeline_file, submission_parameters(args), args.run_name,
                            args.experiment, args.pipeline_name, args.version_name, args.namespace, args.wait,
                            args.timeout, args.poll_interval)
    print(json.dumps(dataclasses.asdict(result), indent=2))
    if args.wait and (result.state or "").lower() != FINISHED_OK:
        raise RuntimeError(f"run {result.run_id} finished {result.state}, not succeeded")


def cmd_schedule(args: argparse.Namespace) -> None:
    """`schedule`: upload the pipeline and create a recurring run."""
    from movinet_pipeline.pipelines.submit import schedule, schedule_vertex

    vertex = _vertex_target(args)
    with contextlib.redirect_stdout(sys.stderr):
        if vertex:
            result = schedule_vertex(vertex, args.pipeline_file, submission_parameters(args), args.name, args.cron,
                                     args.max_concurrency)
        else:
            result = schedule(args.host, args.pipeline_file, submission_parameters(args), args.name, args.cron,
                              args.experiment, args.pipeline_name, args.version_name, args.namespace,
                              args.max_concurrency)
    print(json.dumps(dataclasses.asdict(result), indent=2))


def cmd_sample_data(args: argparse.Namespace) -> None:
    """`sample-data`: write the bundled synthetic dataset."""
    from movinet_pipeline.core.media.sample_data import generate_sample_dataset

    spec = SampleSpec(train_per_class=args.train_per_class, validation_per_class=args.validation_per_class,
                      seed=args.seed)
    print(generate_sample_dataset(args.output, spec))


def cmd_export(args: argparse.Namespace) -> None:
    """`export`: a dataset source to the exported-dataset contract."""
    from movinet_pipeline.core.sources import dataset_source, export_options_json

    options = export_options_json(config_from_args(args))
    source = dataset_source(args.source, args.filter or "", args.subset_filters or "", options)
    if not source.resumes_into_output:  # a Dataloop export resumes into its folder
        _require_empty(Path(args.output), "--output")
    source.export(args.output)


def cmd_build_tfrecords(args: argparse.Namespace) -> None:
    """`build-tfrecords`: the Beam job and its contact sheet."""
    from movinet_pipeline.components.build_tfrecords.build import build_tfrecords

    _require_empty(Path(args.output), "--output")
    build_tfrecords(args.input, args.output, config_from_args(args), args.beam_args)


def cmd_train(args: argparse.Namespace) -> None:
    """`train`: fine-tune on the examples (resumes in the same output)."""
    from movinet_pipeline.core.model.training import train

    train(args.examples, args.output, config_from_args(args))


def cmd_evaluate(args: argparse.Namespace) -> None:
    """`evaluate`: resolve the baseline (if named), then evaluate and gate."""
    import tempfile

    from movinet_pipeline.components.evaluate.evaluator import evaluate
    from movinet_pipeline.components.resolve_baseline.resolve import resolve_baseline

    _require_empty(Path(args.output), "--output")
    with tempfile.TemporaryDirectory(prefix="baseline-") as folder:
        reference = resolve_baseline(args.baseline, "", "", folder) if args.baseline else ""
        evaluate(args.model, args.examples, args.output, baseline_dir=folder if reference else None,
                 baseline_reference=reference)


def cmd_register(args: argparse.Namespace) -> None:
    """`register`: register a model in a registry."""
    from movinet_pipeline.core.registries import model_registry

    record = model_registry(args.registry).register(Path(args.model), Path(args.evaluation), args.run_id,
                                                    Path(args.dataset) if args.dataset else None,
                                                    args.base_model or None)
    print(json.dumps(record, indent=2))


def add_dataloop_filter_flags(parser: argparse.ArgumentParser) -> None:
    """Add --filter and --subset-filters (Dataloop DQL)."""
    parser.add_argument("--filter", help='Dataloop DQL filter (JSON) narrowing the items, e.g. '
                        '\'{"$and": [{"dir": "/clips*"}]}\'')
    parser.add_argument("--subset-filters", help='JSON mapping subsets to DQL filters, e.g. '
                        '\'{"train": {"metadata.system.tags.train": true}, "validation": {...}}\' '
                        "[default: subsets from /train, /validation, /test folders or ML-subset tags]")


def add_baseline_flag(parser: argparse.ArgumentParser) -> None:
    """Add --baseline."""
    parser.add_argument("--baseline", help="the model serving now, to compare with on the same clips: a model folder "
                        "(e.g. a registry entry) or dataloop://<model-id>; the candidate is blessed only if its top-1 "
                        "changes by at least min_improvement [default: no baseline]")


def build_parser() -> argparse.ArgumentParser:
    """The `movinet-pipeline` parser with every command."""
    parser = argparse.ArgumentParser(prog="movinet-pipeline", description=__doc__, epilog=EPILOG)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs and full tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=EPILOG)
        sub.set_defaults(handler=handler)
        return sub

    run = command("run", cmd_run, "Run the whole pipeline locally (kfp.local): export, TFRecords, train, "
                  "evaluate, register. With no --source, on the bundled sample with the cpu-sample profile.")
    run.add_argument("--source", help="dataloop://<dataset-id> or a Dataloop download folder (items/ + json/) "
                     "[default: the bundled sample]")
    run.add_argument("--registry", help="dataloop://<project-id> or a local model registry folder "
                     "[default: OUTPUT/registry]")
    add_baseline_flag(run)
    run.add_argument("--base-model", help="Dataloop model id to clone when registering [default: create through "
                     "the project's movinet app]")
    run.add_argument("--model-ids", help="comma-separated model_ids to sweep (e.g. a0,a1,a2): train and evaluate "
                     "each, register the best (the sweep pipeline)")
    add_dataloop_filter_flags(run)
    run.add_argument("--runner", choices=["subprocess", "docker"], default="subprocess",
                     help="subprocess: every step in this Python environment; docker: each step in its image "
                     "(make images), as on a cluster: non-root, read-only root filesystem [default: subprocess]")
    run.add_argument("--output", default="movinet-run", help="empty or new folder for every output "
                     "[default: ./movinet-run]")
    run.add_argument("--run-id", default="", help="idempotency key of the registration [default: the run name]")
    add_config_flags(run, " [default: cpu-sample without --source, none with it]")

    compile_cmd = command("compile", cmd_compile, "Compile a pipeline to KFP YAML (default: training -> "
                          "pipeline.yaml).")
    compile_cmd.add_argument("--pipeline", default="training", choices=["training", "sweep"],
                             help="training (-> pipeline.yaml) or sweep over model_id (-> sweep_pipeline.yaml)")
    compile_cmd.add_argument("--output", help="output YAML [default: pipeline.yaml, sweep_pipeline.yaml; "
                             "-vertex before .yaml for --target vertex]")
    compile_cmd.add_argument("--target", default="kubeflow", choices=["kubeflow", "vertex"],
                             help="kubeflow (GKE: nvidia.com/gpu limit, GPU node selector and toleration) or vertex "
                             "(Vertex accelerator names) [default: kubeflow]")
    compile_cmd.add_argument("--images", metavar="FILE",
                             help="pin every step's image by digest (name@sha256:...) from the record "
                             "`images/build.py --push` writes (build/images.json), as a release ships "
                             "[default: the version tags of movinet_pipeline.core.images]")
    compile_cmd.add_argument("--accelerator-type", help="GPU type for train/evaluate [default: nvidia.com/gpu on "
                             "kubeflow, NVIDIA_TESLA_T4 on vertex]")
    compile_cmd.add_argument("--accelerator-count", type=int, help="GPUs per train/evaluate step [default: 1]")

    def add_submission_flags(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--host", default=os.environ.get("KFP_HOST"),
                         help="Kubeflow Pipelines API endpoint [default: $KFP_HOST]; the bearer token, if any, "
                         "comes from $KFP_TOKEN")
        sub.add_argument("--vertex-project", help="submit to Vertex AI Pipelines in this Google Cloud project "
                         "instead (credentials: Application Default Credentials); use a --target vertex file")
        sub.add_argument("--region", help="Vertex AI region, e.g. us-central1")
        sub.add_argument("--pipeline-root", help="Vertex AI: gs:// folder for the run's artifacts")
        sub.add_argument("--service-account", help="Vertex AI: service account the run executes as")
        sub.add_argument("--vertex-endpoint", help="Vertex AI API endpoint override (private endpoint)")
        sub.add_argument("--pipeline-file", default="pipeline.yaml", help="compiled pipeline [default: %(default)s]")
        sub.add_argument("--params-file", help="YAML/JSON mapping of pipeline parameters (configuration keys "
                         "that are not parameters go into extra_config)")
        sub.add_argument("--param", action="append", metavar="KEY=VALUE", help="a pipeline parameter; repeatable; "
                         "overrides --params-file")
        sub.add_argument("--experiment", default="movinet", help="KFP experiment [default: %(default)s]")
        sub.add_argument("--pipeline-name", default="movinet-training", help="KFP pipeline to upload the version "
                         "to (created if missing) [default: %(default)s]")
        sub.add_argument("--version-name", help="pipeline version name [default: <pipeline>-<content hash>; an "
                         "identical version is reused]")
        sub.add_argument("--namespace", help="KFP namespace (multi-user deployments)")

    submit_cmd = command("submit", cmd_submit, "Upload the compiled pipeline as a version on a Kubeflow Pipelines "
                         "host and start a run.")
    add_submission_flags(submit_cmd)
    submit_cmd.add_argument("--run-name", required=True, help="display name of the run")
    submit_cmd.add_argument("--wait", action="store_true", help="wait for the run; exit 1 unless it succeeded")
    submit_cmd.add_argument("--timeout", type=float, default=24 * 3600, help="seconds to wait [default: 86400]")
    submit_cmd.add_argument("--poll-interval", type=float, default=10.0, help="seconds between run state checks "
                            "while waiting [default: 10]")

    schedule_cmd = command("schedule", cmd_schedule, "Upload the compiled pipeline and create a recurring run "
                           "(e.g. nightly retraining).")
    add_submission_flags(schedule_cmd)
    schedule_cmd.add_argument("--name", required=True, help="display name of the recurring run")
    schedule_cmd.add_argument("--cron", required=True, help='cron schedule, 5 fields ("0 3 * * *": 03:00 daily) '
                              "or KFP's 6 (with seconds)")
    schedule_cmd.add_argument("--max-concurrency", type=int, default=1, help="runs allowed at once [default: 1]")

    sample = command("sample-data", cmd_sample_data, "Write the bundled synthetic dataset (moving squares, "
                     "4 directions) in Dataloop's download layout.")
    sample.add_argument("--output", required=True, help="empty or new folder")
    sample.add_argument("--train-per-class", type=int, default=SampleSpec.train_per_class)
    sample.add_argument("--validation-per-class", type=int, default=SampleSpec.validation_per_class)
    sample.add_argument("--seed", type=int, default=0)

    export = command("export", cmd_export, "Export a dataset to the exported-dataset contract "
                     "(manifest.jsonl, labels.json).")
    export.add_argument("--source", required=True, help="dataloop://<dataset-id>, or a Dataloop download folder "
                        "(items/ + json/)")
    export.add_argument("--output", required=True, help="empty or new folder (for Dataloop: rerun with the same "
                        "folder to resume an interrupted export)")
    add_dataloop_filter_flags(export)
    add_config_flags(export, keys=(*EXPORT_KEYS, *SAMPLING_KEYS))  # with a cache_root: the clips' content identity

    records = command("build-tfrecords", cmd_build_tfrecords, "Decode, sample and encode clips into sharded "
                      "SequenceExample TFRecords with Apache Beam.")
    records.add_argument("--input", required=True, help="an exported dataset folder")
    records.add_argument("--output", required=True, help="empty or new folder")
    add_config_flags(records)

    train = command("train", cmd_train, "Fine-tune a base-mode MoViNet on TFRecords; resumes from the "
                    "checkpoints in --output.")
    train.add_argument("--examples", required=True, help="a build-tfrecords output folder")
    train.add_argument("--output", required=True, help="model folder (reuse it to resume an interrupted run)")
    add_config_flags(train)

    evaluate = command("evaluate", cmd_evaluate, "Evaluate a trained model: metrics.json, verdict.json, "
                       "report.html.")
    evaluate.add_argument("--model", required=True, help="a train output folder")
    evaluate.add_argument("--examples", required=True, help="a build-tfrecords output folder")
    evaluate.add_argument("--output", required=True, help="empty or new folder")
    add_baseline_flag(evaluate)

    register = command("register", cmd_register, "Register a model in Dataloop or in a local registry folder "
                       "(the model JSON Dataloop would get, plus artifacts).")
    register.add_argument("--model", required=True, help="a train output folder")
    register.add_argument("--evaluation", required=True, help="an evaluate output folder")
    register.add_argument("--registry", required=True, help="dataloop://<project-id> or a local registry folder")
    register.add_argument("--base-model", help="Dataloop model id to clone [default: create through the "
                          "project's movinet app]")
    register.add_argument("--run-id", required=True, help="idempotency key: the same id updates, never duplicates")
    register.add_argument("--dataset", help="the exported dataset folder, for lineage")
    return parser


def split_beam_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split argv at `--`: our flags, then Beam's."""
    argv = list(argv)
    if "--" in argv:
        index = argv.index("--")
        return argv[:index], argv[index + 1 :]
    return argv, []


TRAIN_MODULES = {"tensorflow", "tf_keras", "official", "tensorflow_hub"}  # the `train` extra, not in the core install


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; exit 0 on success, 2 on a usage or configuration error, 1 otherwise."""
    own, beam_args = split_beam_args(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(own)
    args.beam_args = beam_args
    from movinet_pipeline.core.logs import setup_logging

    setup_logging(args.verbose)
    try:
        args.handler(args)
    except (ConfigError, UsageError, PreflightError, SubmitError, FileNotFoundError, FileExistsError,
            NotADirectoryError) as error:
        print(f"movinet-pipeline {args.command}: error: {error}", file=sys.stderr)
        return 2
    except RunFailed as error:
        print(f"movinet-pipeline {args.command}: {error}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in TRAIN_MODULES:
            raise
        print(f"movinet-pipeline {args.command}: error: this command needs TensorFlow ({error.name} is missing): "
              "pip install 'movinet-pipeline[train]' (or run it in the trainer image)", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - one readable line, the traceback only on --verbose
        if args.verbose:
            raise
        print(f"movinet-pipeline {args.command}: {type(error).__name__}: {error} (rerun with -v for details)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

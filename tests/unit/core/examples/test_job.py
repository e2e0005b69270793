"""Standard Beam options pass straight through, so Dataflow needs no code change; the local default is explicit."""

import logging

import pytest
from apache_beam.options.pipeline_options import DirectOptions, GoogleCloudOptions, StandardOptions, WorkerOptions

from movinet_pipeline.app.cli import split_beam_args
from movinet_pipeline.core.examples.job import local_runner, local_runner_options


def test_dataflow_options_reach_beam_untouched():
    own, beam = split_beam_args(["build-tfrecords", "--input", "gs://b/in", "--output", "gs://b/out", "--",
                                 "--runner=DataflowRunner", "--project=p", "--region=europe-west4",
                                 "--temp_location=gs://b/tmp", "--sdk_container_image=eu.gcr.io/p/worker:1",
                                 "--machine_type=n2-standard-8", "--max_num_workers=20"])
    assert own[-1] == "gs://b/out"
    options = local_runner_options(beam)
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    cloud = options.view_as(GoogleCloudOptions)
    assert (cloud.project, cloud.region, cloud.temp_location) == ("p", "europe-west4", "gs://b/tmp")
    worker = options.view_as(WorkerOptions)
    assert (worker.sdk_container_image, worker.machine_type, worker.max_num_workers) == (
        "eu.gcr.io/p/worker:1", "n2-standard-8", 20)
    assert local_runner(options) is None  # Beam resolves the runner named in the options


def test_local_default_is_the_fn_api_runner_on_every_core(caplog):
    caplog.set_level(logging.INFO)
    options = local_runner_options([])
    direct = options.view_as(DirectOptions)
    assert direct.direct_running_mode == "multi_processing" and direct.direct_num_workers >= 1
    assert type(local_runner(options)).__name__ == "FnApiRunner"
    assert any("multi_processing mode" in r.getMessage() for r in caplog.records)
    explicit = local_runner_options(["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    assert explicit.view_as(DirectOptions).direct_running_mode == "in_memory"


DATAFLOW = ["--runner=DataflowRunner", "--project=ml-platform", "--region=europe-west4",
            "--temp_location=gs://movinet-test/tmp", "--sdk_container_image=eu.gcr.io/ml-platform/worker:1",
            "--machine_type=n2-standard-8", "--max_num_workers=20"]


def test_the_job_graph_translates_for_dataflow_with_the_worker_image():
    """The DataflowRunner (dry run: everything but the submission) accepts our options and graph, pickles our DoFns,
    and names the worker image; this also proves the Dataflow client libraries are installed.
    """
    import apache_beam as beam
    from apache_beam.portability.api import beam_runner_api_pb2

    from movinet_pipeline.core.config import PipelineConfig
    from movinet_pipeline.core.examples.clip_cache import SamplingOptions
    from movinet_pipeline.core.examples.transform import BuildExamples, SideFiles
    from movinet_pipeline.core.layouts import Examples, ManifestEntry

    pipeline = beam.Pipeline(options=local_runner_options([*DATAFLOW, "--dry_run=True"]))
    entries = [ManifestEntry("i1", "items/train/a.mp4", "up", "train", 0, None, None),
               ManifestEntry("i2", "items/validation/b.mp4", "down", "validation", 0, 12, 25.0)]
    _ = (pipeline | "Manifest" >> beam.Create(entries)
         | BuildExamples("gs://movinet-test/in", Examples("gs://movinet-test/out"), ["down", "up"],
                         ["train", "validation"], SamplingOptions.from_config(PipelineConfig()), 2,
                         SideFiles("gs://movinet-test/out/stats", "gs://movinet-test/out/errors")))
    pipeline.run()
    proto = pipeline.runner.proto_pipeline
    (environment,) = proto.components.environments.values()
    assert beam_runner_api_pb2.DockerPayload.FromString(environment.payload).container_image == \
        "eu.gcr.io/ml-platform/worker:1"
    names = {transform.unique_name for transform in proto.components.transforms.values()}
    assert {"Build examples/Decode, sample, encode", "Build examples/Write train", "Build examples/Write validation",
            "Build examples/Write stats", "Build examples/Write errors"} <= names


def test_a_remote_runner_reads_and_writes_artifacts_at_their_gcs_uris():
    from movinet_pipeline.core.examples.job import BuildError, artifact_location

    assert artifact_location("/gcs/bucket/run/examples", "gs://bucket/run/examples", []) == "/gcs/bucket/run/examples"
    assert artifact_location("/gcs/bucket/run/examples", "gs://bucket/run/examples", DATAFLOW) == \
        "gs://bucket/run/examples"
    with pytest.raises(BuildError,
                       match="DataflowRunner workers cannot reach the artifact /tmp/x.*gs:// pipeline root"):
        artifact_location("/tmp/x", "/tmp/x", DATAFLOW)

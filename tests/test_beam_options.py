"""Standard Beam options pass straight through, so Dataflow needs no code change; the local default is explicit."""

import logging

from apache_beam.options.pipeline_options import DirectOptions, GoogleCloudOptions, StandardOptions, WorkerOptions

from components.build_tfrecords.beam_pipeline import _runner, local_runner_options
from movinet_pipeline.cli import split_beam_args


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
    assert _runner(options) is None  # Beam resolves the runner named in the options


def test_local_default_is_the_fn_api_runner_on_every_core(caplog):
    caplog.set_level(logging.INFO)
    options = local_runner_options([])
    direct = options.view_as(DirectOptions)
    assert direct.direct_running_mode == "multi_processing" and direct.direct_num_workers >= 1
    assert type(_runner(options)).__name__ == "FnApiRunner"
    assert any("multi_processing mode" in r.getMessage() for r in caplog.records)
    explicit = local_runner_options(["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    assert explicit.view_as(DirectOptions).direct_running_mode == "in_memory"

"""The trainer's place in a cluster, from TF_CONFIG or Vertex AI's CLUSTER_SPEC."""

import json

import pytest

from movinet_pipeline.core.model.cluster import Cluster, ClusterError, from_environment, vertex_tf_config

TWO = {"chief": ["10.0.0.1:2222"], "worker": ["10.0.0.2:2222", "10.0.0.3:2222"]}


def test_no_cluster_is_one_chief():
    assert from_environment({}) == Cluster() and Cluster().is_chief and not Cluster().is_multi_worker


def test_tf_config_names_the_workers_and_this_task():
    chief = from_environment({"TF_CONFIG": json.dumps({"cluster": TWO, "task": {"type": "chief", "index": 0}})})
    worker = from_environment({"TF_CONFIG": json.dumps({"cluster": TWO, "task": {"type": "worker", "index": 1}})})
    assert (chief.workers, chief.is_chief, chief.is_multi_worker) == (3, True, True)
    assert (worker.task_type, worker.task_index, worker.is_chief) == ("worker", 1, False)
    no_chief = {"worker": TWO["worker"]}
    first = from_environment({"TF_CONFIG": json.dumps({"cluster": no_chief, "task": {"type": "worker", "index": 0}})})
    assert first.is_chief, "without a chief, worker 0 is the chief (TensorFlow's rule)"


def test_vertex_cluster_spec_becomes_tf_config():
    spec = {"cluster": {"workerpool0": ["cmle-training-workerpool0-0:2222"],
                        "workerpool1": ["cmle-training-workerpool1-0:2222", "cmle-training-workerpool1-1:2222"]},
            "environment": "cloud", "task": {"type": "workerpool1", "index": 1}, "job": "{}"}
    tf_config = json.loads(vertex_tf_config(json.dumps(spec)))
    assert tf_config == {"cluster": {"chief": spec["cluster"]["workerpool0"], "worker": spec["cluster"]["workerpool1"]},
                         "task": {"type": "worker", "index": 1}}
    cluster = from_environment({"CLUSTER_SPEC": json.dumps(spec)})
    assert (cluster.workers, cluster.task_type, cluster.task_index) == (3, "worker", 1)


@pytest.mark.parametrize("tf_config, message", [
    ("{not json", "TF_CONFIG is not valid JSON"),
    (json.dumps({"cluster": TWO, "task": {"type": "ps", "index": 0}}), "task type 'ps' does not train"),
    (json.dumps({"cluster": TWO, "task": {"type": "worker", "index": 5}}), "task index 5 is not among the 2 worker"),
])
def test_a_broken_cluster_description_is_one_clear_error(tf_config, message):
    with pytest.raises(ClusterError, match=message):
        from_environment({"TF_CONFIG": tf_config})

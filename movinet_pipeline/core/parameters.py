"""The pipelines' run parameters, declared once: name, type, default and one line of help.

Both pipelines' signatures and docstrings (so the KFP and Vertex AI UIs describe every parameter), the local runner,
`submit` and `make_config` take their parameters from here. The nine seed keys Dataloop's MoViNet users know, and
`cache_root`, are parameters by name, with the configuration's defaults and help; every other configuration key
travels in `extra_config` (JSON). Credentials are never parameters: `dataloop_secret` names the secret that holds them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, List

from movinet_pipeline.core.config import KEY_HELP, PARAMETER_KEYS, SEED_KEYS, PipelineConfig

REQUIRED = object()  # the default of a parameter a run must give


@dataclass(frozen=True)
class Parameter:
    """One run parameter as KFP compiles it (`type` is what the pipeline function declares)."""

    name: str
    type: Any
    default: Any
    help: str


_CONFIG_TYPES = {f.name: {"int": int, "float": float, "str": str, "bool": bool}[str(f.type)]
                 for f in dataclasses.fields(PipelineConfig)}
_DEFAULTS = PipelineConfig()
# The configuration keys that are run parameters by name: the seed keys, then cache_root.
CONFIG = tuple(Parameter(key, _CONFIG_TYPES[key], getattr(_DEFAULTS, key), KEY_HELP[key]) for key in PARAMETER_KEYS)
SEED = tuple(parameter for parameter in CONFIG if parameter.name in SEED_KEYS)

SOURCE = Parameter("source", str, REQUIRED, "The dataset: dataloop://<dataset-id>, or a Dataloop download folder "
                   "(items/ + json/).")
EXTRA_CONFIG = Parameter("extra_config", str, "{}", "JSON mapping of the other configuration keys (see the README's "
                         "configuration table), e.g. {\"conv_type\": \"2plus1d\"}.")
RUN = (
    EXTRA_CONFIG,
    Parameter("beam_options", str, "", "Beam flags for the TFRecord job, e.g. --runner=DataflowRunner --project=p "
              "--region=r --temp_location=gs://b/tmp (empty: the local runner on every core)."),
    Parameter("registry", str, "", "Where to register: dataloop://<project-id> or a local registry folder (empty: "
              "the register step's own output)."),
    Parameter("run_id", str, "", "Idempotency key of the registration: a retry updates, never duplicates (empty: "
              "the pipeline job's name)."),
    Parameter("dataloop_filter", str, "", "Dataloop DQL condition (JSON) narrowing the items, e.g. "
              "{\"dir\": \"/clips*\"}."),
    Parameter("subset_filters", str, "", "JSON mapping train / validation / test to DQL conditions (empty: subsets "
              "from the /train, /validation, /test folders or ML-subset tags)."),
    Parameter("base_model_id", str, "", "Dataloop model to clone when registering (empty: create through the "
              "project's movinet app)."),
    Parameter("baseline_model", str, "", "The model serving now, which the candidate must match or beat on the same "
              "clips (see min_improvement): dataloop://<model-id> or a model folder; empty: the newest model "
              "registered in registry for the same dataset source; none: no baseline."),
    Parameter("dataloop_secret", str, "dataloop-credentials", "Name of the secret with the Dataloop credentials: a "
              "Kubernetes secret (keys api-key, or m2m-email + m2m-password; optional env) on Kubeflow, a Secret "
              "Manager secret (a name, or projects/<p>/secrets/<s>[/versions/<v>]) on Vertex AI."),
)
GPU = (
    Parameter("accelerator_type", str, "nvidia.com/gpu", "GPU type of the train and evaluate steps (Kubeflow: a "
              "resource name; Vertex AI: e.g. NVIDIA_TESLA_T4)."),
    Parameter("accelerator_count", int, 1, "GPUs per train and evaluate step."),
    Parameter("gpu_node_selector", dict, {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"},
              "Kubeflow: node labels of the GPU node pool."),
    Parameter("train_replicas", int, 1, "Vertex AI: more than 1 runs training as a custom job of this many replicas "
              "(one chief; MultiWorkerMirroredStrategy), each a train_machine_type with accelerator_count "
              "accelerator_type GPUs; batch_size stays the global batch."),
    Parameter("train_machine_type", str, "n1-standard-8", "Vertex AI: the machine type of each training replica "
              "when train_replicas > 1."),
)
MODEL_IDS = Parameter("model_ids", List[str], ["a0", "a1", "a2"], "The architectures to compare (model_id values).")
SELECTION_METRIC = Parameter("selection_metric", str, "top1_accuracy", "The evaluation figure (metrics.json, higher "
                             "is better) that picks the best model_id.")

TRAINING = (SOURCE, *CONFIG, *RUN, *GPU)
SWEEP = (SOURCE, MODEL_IDS, *(p for p in CONFIG if p.name != "model_id"), *RUN, SELECTION_METRIC, *GPU)


def pipeline_arguments(source: str, config: PipelineConfig, **run: Any) -> dict[str, Any]:
    """A run's parameter values for `config`: the parameter keys by name, every other key in `extra_config`."""
    values = config.to_dict()
    extra = {key: value for key, value in values.items() if key not in PARAMETER_KEYS}
    return {SOURCE.name: source, **{key: values[key] for key in PARAMETER_KEYS},
            EXTRA_CONFIG.name: json.dumps(extra, sort_keys=True), **run}

"""dataloop.json's pretrained models, one per MoViNet size, generated (never hand-edited).

Each size a0..a5 gets a pretrained entry (TF Hub's Kinetics-600 classifier in base mode; `model_mode: stream` in
its configuration serves TF Hub's stream model) carrying the 600 Kinetics names, at Model Garden's resolution for
that size, and a deploy compute config with the pod its memory needs (`PEAK_MEMORY_MIB`, measured on CPU by
`benchmarks/pod_memory.py`). The rest of the manifest (modules, functions, the train/evaluate config) is kept as is.

    python -m movinet_pipeline.dataloop_adapter.manifest          # rewrite dataloop.json
    python -m movinet_pipeline.dataloop_adapter.manifest --check  # exit 1 if the committed file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from movinet_pipeline.core.config import EMBEDDING_SIZES, MODEL_IDS, SEED_KEYS, PipelineConfig
from movinet_pipeline.core.images import SERVING_IMAGE
from movinet_pipeline.core.model.kinetics import kinetics_600_labels
from movinet_pipeline.core.registries.dataloop import pretrained_model_name

MANIFEST = Path(__file__).with_name("dataloop.json")
MODULE = "movinet-module"
TRAIN_CONFIG = "movinet-train-evaluate"
# Model Garden's input resolution for each size (what its Kinetics-600 checkpoints were trained and evaluated at).
RESOLUTIONS = {"a0": 172, "a1": 172, "a2": 224, "a3": 256, "a4": 290, "a5": 320}
# Peak resident memory of one base-mode prediction (a batch of batch_size clips of n_frames at the size's
# resolution), CPU, MiB: `python benchmarks/pod_memory.py` (benchmarks/RESULTS.md).
PEAK_MEMORY_MIB = {"a0": 1044, "a1": 1139, "a2": 1326, "a3": 1582, "a4": 1892, "a5": 2194}
# Dataloop CPU pods from the smallest, with the memory this project assumes for each (Dataloop's instance catalog
# is not reachable from here: check these against your organisation's); a size gets the first with 1.5x headroom.
POD_MEMORY_MIB = (("regular-xs", 2048), ("regular-s", 4096), ("regular-m", 8192), ("highmem-m", 16384),
                  ("highmem-l", 32768))
HEADROOM = 1.5


def pod_type(model_id: str) -> str:
    """The smallest pod whose memory holds the size's measured peak with HEADROOM."""
    needed = PEAK_MEMORY_MIB[model_id] * HEADROOM
    for pod, memory in POD_MEMORY_MIB:
        if needed <= memory:
            return pod
    raise ValueError(f"{model_id}: a peak of {PEAK_MEMORY_MIB[model_id]} MiB fits no pod in POD_MEMORY_MIB")


def deploy_config_name(model_id: str) -> str:
    """The compute config the size's pretrained model is deployed with."""
    return f"movinet-deploy-{model_id}"


def deploy_config(model_id: str) -> dict:
    """A CPU serving config for one size (the serving image, scale to zero)."""
    return {"name": deploy_config_name(model_id),
            "runtime": {"podType": pod_type(model_id), "concurrency": 1, "runnerImage": SERVING_IMAGE,
                        "autoscaler": {"type": "rabbitmq", "minReplicas": 0, "maxReplicas": 2, "queueLength": 100}}}


def pretrained_entry(model_id: str) -> dict:
    """The pretrained model of one size: TF Hub's Kinetics-600 MoViNet, its 600 names, its pods."""
    defaults = PipelineConfig(model_id=model_id, imgz=RESOLUTIONS[model_id]).to_dict()
    configuration = {key: defaults[key] for key in SEED_KEYS}
    configuration.update(weights_filename=defaults["weights_filename"], embeddings_size=EMBEDDING_SIZES[model_id],
                         segment_seconds=0, min_segment_seconds=0, stream_model="savedmodel")
    return {"name": pretrained_model_name(model_id), "moduleName": MODULE, "scope": "project",
            "status": "pre-trained", "inputType": "video", "outputType": "class",
            "description": f"MoViNet-{model_id.upper()} Kinetics-600 classifier from TF Hub, base mode "
                           f"(model_mode: stream serves TF Hub's stream model); {RESOLUTIONS[model_id]} px",
            "computeConfigs": {"deploy": deploy_config_name(model_id), "train": TRAIN_CONFIG},
            "labels": list(kinetics_600_labels()), "configuration": configuration}


def generated(manifest: dict) -> dict:
    """`manifest` with its per-size deploy configs and pretrained models regenerated."""
    components = dict(manifest["components"])
    kept = [config for config in components["computeConfigs"]
            if config["name"] not in {deploy_config_name(model_id) for model_id in MODEL_IDS}]
    components["computeConfigs"] = kept + [deploy_config(model_id) for model_id in MODEL_IDS]
    components["models"] = [pretrained_entry(model_id) for model_id in MODEL_IDS]
    return {**manifest, "components": components}


def render(manifest: dict) -> str:
    """The manifest as committed: two-space JSON, one trailing newline."""
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Rewrite dataloop.json, or with --check say whether it is current."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 (and write nothing) if dataloop.json is stale")
    args = parser.parse_args(argv)
    current = MANIFEST.read_text()
    expected = render(generated(json.loads(current)))
    if args.check:
        if current != expected:
            print(f"{MANIFEST} is stale: run python -m movinet_pipeline.dataloop_adapter.manifest", file=sys.stderr)
            return 1
        return 0
    MANIFEST.write_text(expected)
    print(f"wrote {MANIFEST}: {len(MODEL_IDS)} pretrained models ({', '.join(MODEL_IDS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

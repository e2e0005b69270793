"""The registered-model entry: the model JSON Dataloop gets and the artifact files that go with it.

Both registries (a local folder, Dataloop) build the same entry here, so a model registered offline can be pushed
later and both carry the same labels, configuration, metrics and lineage.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from movinet_pipeline import __version__
from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import EMBEDDING_SIZES, PipelineConfig, read_config
from movinet_pipeline.core.model_card import render_model_card
from movinet_pipeline.core.registries.base import RegisterError


def model_name(config: PipelineConfig, run_id: str) -> str:
    """The registered model's name: `movinet-<model_id>-<run id>`."""
    safe_run = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id).strip("-") or "run"
    return f"movinet-{config.model_id}-{safe_run}"


def model_configuration(config: PipelineConfig, labels: list[str]) -> dict:
    """Dataloop model `configuration`: the seed keys + ours, with the label maps (string ids, as Dataloop keeps)."""
    return {
        **config.to_dict(),
        "weights_filename": config.weights_filename,
        "embeddings_size": EMBEDDING_SIZES[config.model_id],
        "id_to_label_map": {str(i): label for i, label in enumerate(labels)},
        "label_to_id_map": {label: i for i, label in enumerate(labels)},
    }


def metric_samples(history: dict[str, list[float]], figures: dict) -> list[dict]:
    """Training curves and evaluation scores as Dataloop PlotSample-shaped dicts (figure, legend, x, y)."""
    samples = []
    for key, values in history.items():
        if key == "epoch":
            continue
        legend = "validation" if key.startswith("val_") else "train"
        figure = key.removeprefix("val_")
        samples.extend({"figure": figure, "legend": legend, "x": epoch, "y": value}
                       for epoch, value in enumerate(values))
    for key in ("top1_accuracy", "top_k_accuracy"):
        samples.append({"figure": key, "legend": figures["subset"], "x": 0, "y": figures[key]})
    return samples


def build_model_json(model_dir: Path, evaluation_dir: Path, dataset_dir: Path | None, run_id: str) -> dict:
    """The model JSON both registries write (see the module docstring)."""
    model = layouts.ModelFolder(model_dir)
    config = read_config(model.config)
    labels = layouts.read_labels(model_dir)
    figures = json.loads(layouts.Evaluation(evaluation_dir).metrics.read_text())
    verdict = json.loads(layouts.Evaluation(evaluation_dir).verdict.read_text())
    history = json.loads(model.history.read_text()) if model.history.exists() else {}
    lineage = {"run_id": run_id, "code_version": __version__}
    if dataset_dir:
        lineage.update(layouts.read_export_info(dataset_dir))
    name = model_name(config, run_id)
    return {
        "name": name,
        "description": model_card(evaluation_dir, name, lineage) or f"MoViNet-{config.model_id.upper()} fine-tuned by "
                                                                   "movinet-pipeline",
        "status": "trained",
        "inputType": "video",
        "outputType": "class",
        "labels": labels,
        "configuration": model_configuration(config, labels),
        "metadata": {"system": {"lineage": lineage}, "evaluation": {
            "subset": figures["subset"], "top1_accuracy": figures["top1_accuracy"],
            "top_k": figures["top_k"], "top_k_accuracy": figures["top_k_accuracy"],
            "measured_on": verdict.get("measured_on"), "data": verdict.get("data")}},
        "metrics": metric_samples(history, figures),
        "artifacts": [],
    }


def model_card(evaluation_dir: Path, name: str, lineage: dict) -> str:
    """The model card (Markdown) with the registration's lineage; "" when the evaluation has no card facts."""
    facts_path = layouts.Evaluation(evaluation_dir).model_card_facts
    if not facts_path.exists():
        return ""
    registered = {"registered as": name, "run id": lineage["run_id"]}
    if lineage.get("export_fingerprint"):
        registered["dataset content key"] = lineage["export_fingerprint"]
    return render_model_card(json.loads(facts_path.read_text()), registered)


def write_model_card(entry: dict, folder: Path) -> None:
    """Put the entry's model card (its description) in `folder` as `model_card.md`, an artifact of the model."""
    (folder / layouts.MODEL_CARD).write_text(entry["description"] + ("" if entry["description"].endswith("\n")
                                                                       else "\n"))


def artifact_files(model_dir: Path, weights_filename: str) -> list[Path]:
    """The model folder's artifact files (`layouts.ModelFolder.artifact_files`); it must hold the weights."""
    model = layouts.ModelFolder(model_dir)
    if not model.weights(weights_filename).is_file():
        raise RegisterError(f"{model_dir} has no weights file {weights_filename!r}: is it a trained model folder?")
    return model.artifact_files(weights_filename)

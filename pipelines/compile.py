"""Compile the pipelines to YAML (byte-identical across runs for the same code)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import tempfile
from pathlib import Path

import yaml
from kfp import compiler, dsl

from movinet_pipeline.pipelines import sweep, training
from movinet_pipeline.pipelines.platform import TARGETS, building_for, with_target_defaults

PIPELINES = {"training": (training.METADATA, training.training_steps), "sweep": (sweep.METADATA, sweep.sweep_steps)}
COMMITTED = {("training", "kubeflow"): "pipeline.yaml", ("training", "vertex"): "pipeline-vertex.yaml",
             ("sweep", "kubeflow"): "sweep_pipeline.yaml", ("sweep", "vertex"): "sweep_pipeline-vertex.yaml"}


def read_compiled(path: str | Path) -> tuple[dict, dict]:
    """A compiled pipeline file: (pipeline spec, Kubernetes platform spec or {})."""
    documents = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    platform = documents[1].get("platforms", {}).get("kubernetes", {}) if len(documents) > 1 else {}
    return documents[0], platform


def executor_images(path: str | Path) -> set[str]:
    """The image of every executor of a compiled pipeline file."""
    spec, _ = read_compiled(path)
    return {executor["container"]["image"] for executor in spec["deploymentSpec"]["executors"].values()}


def read_image_digests(path: str | Path) -> dict[str, str]:
    """`{tag reference: digest reference}` of the pushed images in the record `images/build.py --push` writes."""
    records = json.loads(Path(path).read_text())
    return {record["image"]: record["digest_reference"] for record in records.values()
            if "@sha256:" in record.get("digest_reference", "")}


def pin_images(path: Path, digests: dict[str, str]) -> None:
    """Replace each executor image of a compiled file by its digest reference; every one must have a digest."""
    if missing := sorted(executor_images(path) - set(digests)):
        raise ValueError(f"no digest for {', '.join(missing)}: push it (images/build.py --push)")
    text = path.read_text()
    for tagged, pinned in digests.items():
        text = re.sub(rf"^(\s*image: ){re.escape(tagged)}$", lambda m, p=pinned: m.group(1) + p, text,
                      flags=re.MULTILINE)
    path.write_text(text)


def compile_pipeline(name: str = "training", output: str | Path | None = None, target: str = "kubeflow",
                     accelerator_type: str | None = None, accelerator_count: int | None = None,
                     image_digests: dict[str, str] | None = None) -> Path:
    """Compile one pipeline for one target to a YAML file.

    Compile pipeline `name` for `target` (kubeflow or vertex): the GPU parameters default to that target's
    names (the accelerator type and count defaults can be overridden here, and per run as parameters). With
    `image_digests` (`read_image_digests`), every executor image is pinned by digest, as a release ships.
    """
    if name not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}; allowed: {', '.join(PIPELINES)}")
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; allowed: {', '.join(TARGETS)}")
    chosen = TARGETS[target]
    gpus = dataclasses.replace(chosen.accelerators, type=accelerator_type or chosen.accelerators.type,
                               count=accelerator_count or chosen.accelerators.count)
    metadata, steps = PIPELINES[name]
    target_settings = dataclasses.replace(chosen, accelerators=gpus)
    with building_for(target_settings):
        pipeline = dsl.pipeline(**metadata)(with_target_defaults(steps, target_settings))
    path = Path(output or COMMITTED[name, target])
    if image_digests is None:
        compiler.Compiler().compile(pipeline, package_path=str(path))
        return path
    with tempfile.TemporaryDirectory() as scratch:  # nothing is written unless every image is pinned
        pinned = Path(scratch) / path.name
        compiler.Compiler().compile(pipeline, package_path=str(pinned))
        pin_images(pinned, image_digests)
        shutil.move(pinned, path)
    return path

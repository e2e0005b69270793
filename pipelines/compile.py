"""Compile the pipelines to YAML (byte-identical across runs for the same code)."""

from __future__ import annotations

from pathlib import Path

import yaml
from kfp import compiler

from pipelines.sweep import sweep_pipeline
from pipelines.training import training_pipeline

PIPELINES = {"training": training_pipeline, "sweep": sweep_pipeline}
DEFAULT_OUTPUT = {"training": "pipeline.yaml", "sweep": "sweep_pipeline.yaml"}


def read_compiled(path: str | Path) -> tuple[dict, dict]:
    """A compiled pipeline file: (pipeline spec, Kubernetes platform spec or {})."""
    documents = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    platform = documents[1].get("platforms", {}).get("kubernetes", {}) if len(documents) > 1 else {}
    return documents[0], platform


def compile_pipeline(name: str = "training", output: str | Path | None = None) -> Path:
    if name not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}; allowed: {', '.join(PIPELINES)}")
    path = Path(output or DEFAULT_OUTPUT[name])
    compiler.Compiler().compile(PIPELINES[name], package_path=str(path))
    return path

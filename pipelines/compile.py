"""Compile the pipelines to YAML (byte-identical across runs for the same code)."""

from __future__ import annotations

from pathlib import Path

from kfp import compiler

from pipelines.training import training_pipeline

PIPELINES = {"training": training_pipeline}
DEFAULT_OUTPUT = {"training": "pipeline.yaml"}


def compile_pipeline(name: str = "training", output: str | Path | None = None) -> Path:
    if name not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}; allowed: {', '.join(PIPELINES)}")
    path = Path(output or DEFAULT_OUTPUT[name])
    compiler.Compiler().compile(PIPELINES[name], package_path=str(path))
    return path

"""The example CI workflow stays valid: its movinet-pipeline command lines parse with the real CLI."""

from __future__ import annotations

import re
import shlex

import yaml

from movinet_pipeline.app.cli import build_parser
from tests.conftest import REPO


def _command_lines() -> list[str]:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "pipeline.yml").read_text())
    scripts = [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]
    joined = "\n".join(script.replace("\\\n", " ") for script in scripts)
    return [line.strip() for line in joined.splitlines() if "movinet-pipeline " in line]


def test_the_workflow_tests_compiles_checks_freshness_releases_pinned_and_submits(monkeypatch):
    monkeypatch.setenv("KFP_HOST", "http://kfp.example")  # the submit step's env (from a repository secret)
    lines = _command_lines()
    subcommands = [shlex.split(line)[1] for line in lines]
    assert subcommands == ["compile"] * 4 + ["submit"]
    assert all("--images build/images.json" in line for line in lines[:4])  # every release file digest-pinned
    outputs = {shlex.split(line)[shlex.split(line).index("--output") + 1] for line in lines[:4]}
    assert outputs == {"release/pipeline.yaml", "release/pipeline-vertex.yaml", "release/sweep_pipeline.yaml",
                       "release/sweep_pipeline-vertex.yaml"}
    workflow_text = (REPO / ".github" / "workflows" / "pipeline.yml").read_text()
    assert "make compile\n          git diff --exit-code -- '*.yaml'" in workflow_text
    assert "bash .ci/run" in workflow_text  # builds the images and runs the pipeline in them before anything ships
    assert 'make images IMAGES="pipeline trainer-cpu trainer" IMAGE_ARGS=--push' in workflow_text
    assert "movinet-pipeline compile --pipeline $$pipeline --target $$target" in (REPO / "Makefile").read_text()
    for line in lines:
        arguments = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "X", line))[1:]
        parsed = build_parser().parse_args(arguments)
        assert parsed.handler.__name__ == f"cmd_{arguments[0]}"


def test_no_secret_is_written_into_the_workflow():
    text = (REPO / ".github" / "workflows" / "pipeline.yml").read_text()
    assert "DATALOOP_API_KEY" not in text
    assert re.findall(r"KFP_TOKEN: (.*)", text) == ["${{ secrets.KFP_TOKEN }}"]

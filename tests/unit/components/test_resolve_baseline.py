"""resolve_baseline: which model evaluate compares with, fetched as a model folder (local registry here; the
Dataloop registry is exercised by the tests of the Dataloop pipeline run).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from movinet_pipeline.components.resolve_baseline.resolve import resolve_baseline
from movinet_pipeline.core import layouts
from movinet_pipeline.core.registries import ModelReferenceError
from tests.unit.core.test_layouts import make_model_folder


def _entry(registry: Path, name: str, source: str, mtime: int) -> Path:
    entry = layouts.RegisteredModel(registry / name)
    make_model_folder(entry.artifacts.root)
    entry.model_json.write_text(json.dumps({"metadata": {"system": {"lineage": {"source": source}}}}))
    os.utime(entry.model_json, (mtime, mtime))
    return entry.root


def _export(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True)
    Path(layouts.ExportedDataset(str(folder)).info).write_text(json.dumps({"source": source}))
    return folder


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    _entry(root, "movinet-a0-old", "dataloop://d1", 1_000)
    _entry(root, "movinet-a0-new", "dataloop://d1", 2_000)
    _entry(root, "movinet-a0-other", "dataloop://d2", 3_000)
    return root


def test_unnamed_it_is_the_newest_model_registered_for_the_same_source(registry, tmp_path):
    output = tmp_path / "baseline"
    reference = resolve_baseline("", str(registry), _export(tmp_path / "export", "dataloop://d1"), output)
    assert reference == str(registry / "movinet-a0-new")
    assert layouts.read_baseline_reference(output) == reference
    assert layouts.ModelFolder(output).has_saved_model() and (output / "labels.json").is_file()


def test_no_baseline_when_none_is_registered_for_the_source_turned_off_or_no_registry(registry, tmp_path):
    other = _export(tmp_path / "export", "dataloop://d3")
    assert resolve_baseline("", str(registry), other, tmp_path / "a") == ""
    assert resolve_baseline("none", str(registry), other, tmp_path / "b") == ""
    assert resolve_baseline("", "", other, tmp_path / "c") == ""
    for folder in ("a", "b", "c"):
        assert layouts.read_baseline_reference(tmp_path / folder) == ""
        assert not layouts.ModelFolder(tmp_path / folder).has_saved_model()


def test_a_named_entry_or_model_folder_is_fetched_and_a_folder_without_a_model_refused(registry, tmp_path):
    entry = registry / "movinet-a0-old"
    assert resolve_baseline(str(entry), "", tmp_path, tmp_path / "a") == str(entry)
    folder = layouts.RegisteredModel(entry).artifacts.root
    assert resolve_baseline(str(folder), "", tmp_path, tmp_path / "b") == str(folder)
    assert (tmp_path / "b" / "stream.tflite").read_bytes() == b"stream.tflite"
    with pytest.raises(ModelReferenceError, match="nowhere holds no exported model"):
        resolve_baseline(str(tmp_path / "nowhere"), "", tmp_path, tmp_path / "c")

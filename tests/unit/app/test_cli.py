"""The command line: --help documents every key, bad input fails in one readable line, steps run alone."""

import subprocess
import sys

import pytest

from movinet_pipeline.app.cli import main
from movinet_pipeline.core.config import KEY_HELP
from tests.conftest import REPO


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "movinet_pipeline.app.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def test_run_help_documents_every_configuration_key():
    completed = _cli("run", "--help")
    assert completed.returncode == 0
    help_text = " ".join(completed.stdout.split())
    for key in KEY_HELP:
        assert f"--{key.replace('_', '-')}" in help_text, key
    assert "--source" in help_text and "--config" in help_text and "cpu-sample" in help_text


@pytest.mark.parametrize("command", ["export", "build-tfrecords", "train", "evaluate", "register", "sample-data",
                                     "compile"])
def test_every_step_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: movinet-pipeline" in capsys.readouterr().out


def test_invalid_value_fails_before_any_work_in_one_line(tmp_path):
    completed = _cli("run", "--model-id", "a7", "--output", str(tmp_path / "out"))
    assert completed.returncode == 2
    assert completed.stderr.strip() == ("movinet-pipeline run: error: invalid model_id='a7': "
                                        "allowed: a0, a1, a2, a3, a4, a5")
    assert not (tmp_path / "out").exists()


def test_what_can_be_checked_is_checked_before_the_pipeline_starts(tmp_path, monkeypatch, capsys):
    (tmp_path / "not-a-download").mkdir()
    (tmp_path / "bad.yaml").write_text("model_id: a0\n  bad: [1,\n")
    monkeypatch.delenv("DATALOOP_API_KEY", raising=False)
    cases = {
        ("--source", str(tmp_path / "missing")): f"--source {tmp_path / 'missing'}: no such folder",
        ("--source", str(tmp_path / "not-a-download")): "is not a Dataloop download folder: it has no json/",
        ("--config", str(tmp_path / "bad.yaml")): "is not valid YAML: mapping values are not allowed here at line 2, "
                                                 "column 6",
        ("--source", "dataloop://some-dataset"): "--source dataloop://some-dataset: no Dataloop credentials",
        ("--registry", "dataloop://some-project"): "--registry dataloop://some-project: no Dataloop credentials",
        ("--registry", str(tmp_path / "bad.yaml" / "registry")): f"cannot create or write it ({tmp_path / 'bad.yaml'} "
                                                                 "is not a writable folder)",
    }
    for number, (flags, reason) in enumerate(cases.items()):
        output = tmp_path / f"out-{number}"
        assert main(["run", *flags, "--output", str(output)]) == 2, flags
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith("movinet-pipeline run: error: ") and reason in last
        assert not (output / "kfp").exists()  # the pipeline never started


def test_a_failed_run_ends_with_the_failed_steps_own_reason(sample_dir, tmp_path):
    import shutil

    source = tmp_path / "source"
    shutil.copytree(sample_dir, source)
    shutil.rmtree(source / "json" / "validation")
    completed = _cli("run", "--source", str(source), "--output", str(tmp_path / "out"), timeout=600)
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines()[-1] == (
        "movinet-pipeline run: step export_dataset failed: ExportError: subset 'validation' has no labelled clip "
        "(found {'train': 12}, 0 item(s) skipped; see the reasons above)")


def test_stream_mode_training_is_refused_up_front(tmp_path, capsys):
    assert main(["train", "--examples", str(tmp_path), "--output", str(tmp_path / "m"),
                 "--model-mode", "stream"]) == 1
    assert "training is base mode only" in capsys.readouterr().err


def test_output_that_holds_user_data_is_never_overwritten(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("precious")
    assert main(["run", "--output", str(tmp_path)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_steps_run_alone_on_plain_folders(sample_dir, tmp_path):
    assert main(["export", "--source", str(sample_dir), "--output", str(tmp_path / "dataset")]) == 0
    assert (tmp_path / "dataset" / "manifest.jsonl").exists()
    assert main(["build-tfrecords", "--input", str(tmp_path / "dataset"), "--output", str(tmp_path / "examples"),
                 "--imgz", "32", "--n-frames", "4", "--", "--direct_running_mode=in_memory"]) == 0
    assert list((tmp_path / "examples" / "validation").glob("*.tfrecord"))


def test_export_takes_the_cache_keys_so_a_rebuild_encodes_only_what_changed(sample_dir, tmp_path, capfd):
    """`export` then `build-tfrecords`, both with --cache-root (as a user runs the steps alone): after one video
    changes, only its clip is encoded; an export made without the cache is said to defeat it, on one line.
    """
    import json
    import shutil

    source = tmp_path / "source"
    shutil.copytree(sample_dir, source)
    keys = ["--cache-root", str(tmp_path / "cache"), "--imgz", "32", "--n-frames", "4"]

    def export_and_build(name: str, export_keys: list[str]) -> dict:
        assert main(["export", "--source", str(source), "--output", str(tmp_path / name / "dataset"),
                     *export_keys]) == 0
        assert main(["build-tfrecords", "--input", str(tmp_path / name / "dataset"), "--output",
                     str(tmp_path / name / "examples"), *keys, "--", "--direct_running_mode=in_memory"]) == 0
        return json.loads((tmp_path / name / "examples" / "stats.json").read_text())

    first = export_and_build("1", keys)
    assert first["clips_encoded"] == first["clips"] and first["clips_reused"] == 0
    video = sorted((source / "items" / "train").glob("*.mp4"))[0]
    other = sorted((source / "items" / "train").glob("*.mp4"))[-1]
    video.write_bytes(other.read_bytes() + bytes(64))  # new bytes the cache has never seen
    changed = export_and_build("2", keys)
    assert (changed["clips_encoded"], changed["clips_reused"]) == (1, changed["clips"] - 1)

    capfd.readouterr()
    without = export_and_build("3", [])  # the export knows nothing of the cache
    assert without["clips_reused"] == 0
    (warning,) = [line for line in capfd.readouterr().err.splitlines() if "no content identity" in line]
    assert f"{without['clips']} of {without['clips']} entries" in warning and "cache_root" in warning


def test_config_file_is_read(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("imgz: 8\n")
    assert main(["build-tfrecords", "--input", str(tmp_path), "--output", str(tmp_path / "o"),
                 "--config", str(config)]) == 2
    assert "invalid imgz=8" in capsys.readouterr().err

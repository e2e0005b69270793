"""`run --runner docker`: what each step container gets, who owns the outputs, and the one-line refusals.

The refusals are checked against a real Docker daemon (`.ci/run` starts one; images/start-docker.sh) and the images
`make images` built, or, for the missing daemon, against a socket where none answers.
"""

import os
import subprocess
import sys
import time

import pytest

from movinet_pipeline.app import containers
from movinet_pipeline.core.images import REVISION_LABEL, image
from tests.conftest import REPO


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "movinet_pipeline.app.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def test_a_step_container_gets_only_the_variables_steps_read_and_their_files_read_only(tmp_path):
    key_file, source, output, hub = tmp_path / "key", tmp_path / "source", tmp_path / "out", tmp_path / "hub"
    environ = {"DATALOOP_API_KEY": "k", "DATALOOP_API_KEY_FILE": str(key_file), "DATALOOP_ENV": "http://x/api/v1",
               "HOME": "/root", "PATH": "/usr/bin", "AWS_SECRET_ACCESS_KEY": "not ours", "KFP_TOKEN": "t",
               "TFHUB_CACHE_DIR": str(hub)}
    folders = containers.HostFolders(writable=(output,), read_only=(source, output / "inside"))
    arguments = containers.run_arguments(folders, (1234, 5678), "run-1", environ)
    assert arguments["environment"] == {"DATALOOP_API_KEY": "k", "DATALOOP_API_KEY_FILE": str(key_file),
                                        "DATALOOP_ENV": "http://x/api/v1", "TFHUB_CACHE_DIR": str(hub)}
    assert arguments["user"] == "1234:5678" and arguments["read_only"] is True
    assert arguments["network_mode"] == "host" and "/tmp" in arguments["tmpfs"]
    binds = {mount["Source"]: mount["ReadOnly"] for mount in arguments["mounts"]}
    # the output folder and TF Hub's cache writable; the source and the key file read-only; nothing bound twice
    assert binds == {str(output): False, str(hub): False, str(source): True, str(key_file): True}
    assert all(mount["Source"] == mount["Target"] for mount in arguments["mounts"])
    assert arguments["labels"] == {containers.RUN_LABEL: "run-1"}


@pytest.mark.skipif(os.getuid() != 0, reason="root's case: the steps never run as root, outputs come back to root")
def test_a_root_invoked_run_lends_its_folders_to_the_image_user_and_takes_them_back(tmp_path):
    existing = tmp_path / "registry" / "other-model"
    existing.mkdir(parents=True)
    os.chown(existing, 4321, 4321)  # someone else's model in the registry keeps its owner
    with containers.owned_by_step_user([tmp_path / "registry"]) as user:
        assert user == containers.ROOT_RUN_USER and 0 not in user
        assert {existing.stat().st_uid, (tmp_path / "registry").stat().st_uid} == {user[0]}
        made = tmp_path / "registry" / "new-model"
        made.mkdir()
        os.chown(made, *user)  # as a step would make it
    assert (made.stat().st_uid, made.stat().st_gid) == (0, 0)
    assert existing.stat().st_uid == 4321 and (tmp_path / "registry").stat().st_uid == 0


def test_without_a_docker_daemon_the_run_stops_before_writing_anything(tmp_path):
    completed = _cli("run", "--runner", "docker", "--output", str(tmp_path / "out"),
                     env={"DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock"})
    assert completed.returncode == 2
    assert completed.stderr.strip().endswith("start docker or use --runner subprocess"), completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.docker
def test_an_image_not_built_is_named_with_what_to_do(tmp_path):
    completed = _cli("run", "--runner", "docker", "--output", str(tmp_path / "out"),
                     env={"MOVINET_IMAGE_TAG": "never-built"})
    assert completed.returncode == 2
    assert completed.stderr.strip() == (f"movinet-pipeline run: error: image {image('pipeline').rsplit(':', 1)[0]}"
                                        ":never-built "
                                        "is not built: run make images (or use --runner subprocess)")
    assert not (tmp_path / "out").exists()


@pytest.mark.docker
def test_an_image_built_from_another_commit_is_named_with_its_commit(caplog, monkeypatch):
    client = containers.docker_client()
    tag = "movinet-pipeline-test/movinet-other-commit:1"
    dockerfile = f"FROM {image('pipeline')}\nLABEL {REVISION_LABEL}=0123456789abcdef\n"
    subprocess.run(["docker", "build", "--quiet", "--tag", tag, "-"], input=dockerfile, text=True, check=True,
                   capture_output=True, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    monkeypatch.setenv("MOVINET_IMAGE_REGISTRY", "movinet-pipeline-test")
    monkeypatch.setenv("MOVINET_IMAGE_TAG", "1")
    try:
        revisions = containers.check_images(client, ["other-commit"])
    finally:
        client.images.remove(tag)
    assert revisions == {tag: "0123456789abcdef"}
    assert "built from 0123456789abcdef, this checkout is at" in caplog.text



@pytest.mark.docker
def test_a_step_container_that_exits_non_zero_is_failed_from_the_daemons_events():
    """What kfp.local may miss (it counts a container already removed as a success) the daemon's events keep."""
    client = containers.docker_client()
    label, started = f"test-{time.time_ns()}", time.time()
    for code in (0, 3):
        container = client.containers.run(image("pipeline"), ["python", "-c", f"raise SystemExit({code})"],
                                          labels={containers.RUN_LABEL: label}, network_mode="none", detach=True)
        container.wait()
        container.remove()
    ran = containers.step_containers(client, started, label)
    assert sorted(entry["exit_code"] for entry in ran) == [0, 3]
    assert {entry["image"] for entry in ran} == {image("pipeline")}
    assert {entry["revision"] for entry in ran} == {client.images.get(image("pipeline")).labels[REVISION_LABEL]}
    failed = next(entry for entry in ran if entry["exit_code"] == 3)
    assert containers.failed_containers(ran) == [f"{failed['container']} ({image('pipeline')}) exited with 3"]

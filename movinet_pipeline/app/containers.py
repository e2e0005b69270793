"""Local runs in containers (`run --runner docker`): each step in its image, through kfp.local's DockerRunner.

As on a cluster, and no more privileged: a step runs as a non-root user, on a read-only root filesystem with a
tmpfs for scratch (`/tmp`, also its HOME), on the host network (local Docker here has no bridge); the host folders
a run reads or writes are bound at the same paths, read-only where the run only reads them. Outputs belong to the
invoking user: its uid runs the steps, or, when that is root, an unprivileged uid the folders are lent to and taken
back from afterwards. Only the environment the steps read (credentials, endpoints) is passed in, never a parameter.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from movinet_pipeline.app.preflight import PreflightError
from movinet_pipeline.core.clients import dataloop, secrets, storage, vertex_training
from movinet_pipeline.core.images import REVISION_LABEL, image, source_revision
from movinet_pipeline.core.step_runtime import FAILURE_LOG_VARIABLE

log = logging.getLogger(__name__)
# The images a local run uses: no GPU here, so train and evaluate run in the CPU trainer (pipelines.platform).
LOCAL_RUNTIMES = ("pipeline", "trainer-cpu")
# The steps of a root-invoked run: an unprivileged uid no host account is likely to hold, lent the run's folders.
ROOT_RUN_USER = (65532, 65532)
# What the steps read from their environment; the variables naming files get those files bound read-only.
PASSED_VARIABLES = (*dataloop.CREDENTIAL_KEYS.values(), "DATALOOP_API_KEY_FILE", dataloop.SECRET_VARIABLE,
                    secrets.ENDPOINT_VARIABLE, vertex_training.ENDPOINT_VARIABLE, storage.EMULATOR_ENV,
                    "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "TFHUB_CACHE_DIR", FAILURE_LOG_VARIABLE)
FILE_VARIABLES = ("DATALOOP_API_KEY_FILE", "GOOGLE_APPLICATION_CREDENTIALS")  # bound read-only
CACHE_VARIABLES = ("TFHUB_CACHE_DIR",)  # bound writable: TF Hub downloads into it
# The pipeline arguments that may name host folders: the steps write to the first, only read the second.
WRITABLE_ARGUMENTS = ("registry", "cache_root")
READ_ONLY_ARGUMENTS = ("source", "baseline_model")
RUN_LABEL = "io.movinet-pipeline.run"  # on every step container: which local run started it


class ContainerError(PreflightError):
    """Containers cannot run this pipeline; the message says what to do."""


def docker_client():
    """A client of the local Docker daemon, or one line saying to start it."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
        return client
    except docker.errors.DockerException as error:
        raise ContainerError(f"no Docker daemon ({error.__class__.__name__}): start docker or use "
                             "--runner subprocess") from None


def check_images(client, runtimes: Iterable[str] = LOCAL_RUNTIMES) -> dict[str, str]:
    """Each image the run needs exists (else: run make images); warn when one was built from another commit."""
    import docker

    revisions, here = {}, source_revision()
    for runtime in runtimes:
        reference = image(runtime)
        try:
            labels = client.images.get(reference).labels or {}
        except docker.errors.ImageNotFound:
            raise ContainerError(f"image {reference} is not built: run make images (or use --runner "
                                 "subprocess)") from None
        revisions[reference] = labels.get(REVISION_LABEL, "unknown")
        if here and revisions[reference] != here:
            log.warning("image %s was built from %s, this checkout is at %s: run make images to rebuild it",
                        reference, revisions[reference], here)
    return revisions


@dataclass(frozen=True)
class HostFolders:
    """The host paths a run's steps use: the pipeline root (kfp.local binds it), and what else they read or write."""

    writable: tuple[Path, ...]
    read_only: tuple[Path, ...]


def _bind(path: Path, read_only: bool) -> dict:
    return {"Target": str(path), "Source": str(path), "Type": "bind", "ReadOnly": read_only}


def run_arguments(folders: HostFolders, user: tuple[int, int], run_label: str,
                  environ: dict[str, str] | None = None) -> dict:
    """`containers.run` arguments for every step (kfp.local's DockerRunner adds the image, command and root)."""
    environ = os.environ if environ is None else environ
    environment = {name: environ[name] for name in PASSED_VARIABLES if environ.get(name)}
    for name in FILE_VARIABLES + CACHE_VARIABLES:  # a relative path means the same file inside
        if name in environment:
            environment[name] = str(Path(environment[name]).resolve())
    writable = {*folders.writable, *(Path(environment[name]) for name in CACHE_VARIABLES if name in environment)}
    read_only = {*folders.read_only, *(Path(environment[name]) for name in FILE_VARIABLES if name in environment)}
    mounts = [_bind(path, read_only=False) for path in sorted(writable)]
    mounts += [_bind(path, read_only=True) for path in sorted(read_only - writable)
               if not any(path.is_relative_to(folder) for folder in writable)]
    return {"user": f"{user[0]}:{user[1]}", "read_only": True, "network_mode": "host",
            "tmpfs": {"/tmp": "rw,nosuid,nodev,exec,mode=1777"}, "environment": environment,
            "mounts": mounts, "labels": {RUN_LABEL: run_label}}


@contextlib.contextmanager
def owned_by_step_user(folders: Iterable[Path]) -> Iterator[tuple[int, int]]:
    """The user the steps run as: the invoking user's ids, or when that is root, ROOT_RUN_USER, lent the folders.

    After a root-invoked run every path is given back: what existed to its owner before, what the steps made to root.
    """
    uid, gid = os.getuid(), os.getgid()
    if uid != 0:
        yield uid, gid
        return
    paths = [path for folder in folders for path in _tree(folder)]
    owners = {path: (path.lstat().st_uid, path.lstat().st_gid) for path in paths}
    for path in paths:
        os.chown(path, *ROOT_RUN_USER, follow_symlinks=False)
    try:
        yield ROOT_RUN_USER
    finally:
        for folder in folders:
            for path in _tree(folder):
                os.chown(path, *owners.get(path, (uid, gid)), follow_symlinks=False)


def _tree(folder: Path) -> Iterator[Path]:
    if not folder.exists():
        return
    yield folder
    for root, directories, files in os.walk(folder):
        for name in directories + files:
            yield Path(root) / name


def step_containers(client, since: float, run_label: str) -> list[dict]:
    """The step containers the daemon ran for this run since `since`: name, image, its revision, exit code.

    From the daemon's events, not kfp.local's word: kfp.local removes each container as it exits and counts a
    container already gone when it asks for the exit code as a success.
    """
    filters = {"type": "container", "event": ["start", "die"], "label": f"{RUN_LABEL}={run_label}"}
    events = client.events(since=int(since), until=int(time.time()) + 1, decode=True, filters=filters)
    ran: dict[str, dict] = {}
    for event in events:
        attributes = event["Actor"]["Attributes"]
        entry = ran.setdefault(event["Actor"]["ID"], {"container": attributes.get("name", ""),
                                                      "image": attributes["image"],
                                                      "revision": attributes.get(REVISION_LABEL, "unknown")})
        if event.get("status", event.get("Action")) == "die":
            entry["exit_code"] = int(attributes.get("exitCode", -1))
    return list(ran.values())


def failed_containers(ran: list[dict]) -> list[str]:
    """One line for each step container that exited non-zero (or never reported its exit)."""
    return [f"{entry['container']} ({entry['image']}) exited with {entry.get('exit_code', 'no exit code')}"
            for entry in ran if entry.get("exit_code") != 0]

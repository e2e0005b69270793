"""Build the project's images from the working tree: `make images` (`python images/build.py --help`).

Each image is a target of `images/Dockerfile`; its dependencies come from a wheelhouse made on the host with the
host's pip (its index and CA bundle: no registry needs to be reachable from inside a build), served to the build on
127.0.0.1 and installed offline as a layer of their own, so a code-only edit rebuilds only the project's wheel.
The base is `BASE_IMAGE` (the pinned public Python slim image); where it cannot be pulled, the equivalent Debian base
is made here with mmdebstrap and `docker import`. Images are tagged with the project version
(`movinet_pipeline.core.images`) and labelled with the git commit; `build/images.json` records what was built and,
with `--push`, the digest reference of each pushed image (the input of `movinet-pipeline compile --images`).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

from movinet_pipeline import __version__
from movinet_pipeline.core.images import DATAFLOW_WORKER_IMAGE, REVISION_LABEL, RUNTIMES, image, source_revision

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "images" / "Dockerfile"
WHEELHOUSES = REPO / "build" / "wheelhouse"
RECORD = REPO / "build" / "images.json"
LOCK = REPO / "requirements.lock"
DEBIAN_BASE = "movinet-base:bookworm-python3"  # made here when the public base cannot be pulled
DEBIAN_PACKAGES = "python3,python3-venv,ca-certificates,passwd"
DEBIAN_MIRRORS = ["deb http://deb.debian.org/debian bookworm main",
                  "deb http://deb.debian.org/debian bookworm-updates main",
                  "deb http://deb.debian.org/debian-security bookworm-security main"]
DATAFLOW_WORKER = REPO / "images" / "dataflow-worker" / "Dockerfile"


def dockerfile_line(path: Path, prefix: str) -> str:
    """The rest of a Dockerfile's first line starting with `prefix` (its base image: one place says it)."""
    return next(line.removeprefix(prefix).strip() for line in path.read_text().splitlines()
                if line.startswith(prefix))


PUBLIC_BASE = dockerfile_line(DOCKERFILE, "ARG BASE_IMAGE=")  # the pinned public Python slim image


class BuildError(Exception):
    """An image cannot be built; the message says why and what to do."""


def docker(*args: str, capture: bool = True, timeout: float | None = None) -> str:
    """Run the docker CLI (legacy builder: BuildKit's buildx is not part of Debian's docker.io)."""
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    completed = subprocess.run(["docker", *args], capture_output=capture, text=True, env=env, timeout=timeout)
    if completed.returncode != 0:
        detail = (completed.stderr or "").strip().splitlines()[-1:] if capture else []
        raise BuildError(f"docker {args[0]} failed{': ' + detail[0] if detail else ''}")
    return (completed.stdout or "").strip()


def image_exists(reference: str) -> bool:
    """Whether the local daemon has this image."""
    return subprocess.run(["docker", "image", "inspect", reference], capture_output=True).returncode == 0


def debian_base() -> str:
    """The equivalent of the Python slim base from Debian's packages (bookworm's python3, 3.11), made once."""
    if image_exists(DEBIAN_BASE):
        return DEBIAN_BASE
    if not shutil.which("mmdebstrap"):
        raise BuildError(f"cannot pull {PUBLIC_BASE} and mmdebstrap is missing to make a Debian base: "
                         "apt-get install mmdebstrap, or pass --base-image")
    print(f"making {DEBIAN_BASE} with mmdebstrap (Debian bookworm, {DEBIAN_PACKAGES})", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        tarball = Path(scratch) / "rootfs.tar"
        excluded = [f"--dpkgopt=path-exclude=/usr/share/{folder}/*" for folder in ("man", "doc", "info", "locale")]
        subprocess.run(["mmdebstrap", "--variant=minbase", f"--include={DEBIAN_PACKAGES}", *excluded,
                        "--dpkgopt=path-include=/usr/share/doc/*/copyright", "--quiet", "bookworm", str(tarball),
                        *DEBIAN_MIRRORS], check=True)
        docker("import", "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]', str(tarball), DEBIAN_BASE)
    return DEBIAN_BASE


def resolve_base(requested: str | None) -> str:
    """The base image: the one asked for, else the pinned public slim image, else the Debian base made here."""
    if requested:
        if not image_exists(requested):
            docker("pull", requested, capture=False)
        return requested
    if image_exists(PUBLIC_BASE):
        return PUBLIC_BASE
    try:
        docker("pull", PUBLIC_BASE, timeout=300)
        return PUBLIC_BASE
    except (BuildError, subprocess.TimeoutExpired):
        print(f"cannot pull {PUBLIC_BASE}; using the Debian base {DEBIAN_BASE} instead", flush=True)
        return debian_base()


def base_python(base: str) -> str:
    """The full Python version of the base image (markers such as `python_full_version < "3.11.3"` depend on it)."""
    return docker("run", "--rm", "--network", "none", "--entrypoint", "python3", base, "-c",
                  "import platform; print(platform.python_version())")


def project_requirements(extras: tuple[str, ...]) -> list[str]:
    """The project's dependencies with these extras (self-references expanded), and its build requirements."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    optional = project["project"]["optional-dependencies"]
    requirements, pending, seen = list(project["project"]["dependencies"]), list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in optional[extra]:
            requirement = Requirement(line)
            if requirement.name == project["project"]["name"]:
                pending.extend(requirement.extras)
            else:
                requirements.append(line)
    return requirements + project["build-system"]["requires"]


def marker_pins(python_version: str) -> list[str]:
    """Pins of the lock that only an interpreter like the base's needs (the host may be a newer 3.11)."""
    environment = {**default_environment(), "python_full_version": python_version,
                   "python_version": ".".join(python_version.split(".")[:2])}
    pins = []
    for line in LOCK.read_text().splitlines():
        if ";" in line:
            requirement = Requirement(line)
            if requirement.marker.evaluate(environment):
                pins.append(f"{requirement.name}{requirement.specifier}")
    return pins


def wheelhouse(runtime: str, python_version: str) -> str:
    """The runtime's dependencies as wheels in build/wheelhouse/<runtime>; returns the key of that set of wheels.

    Collected on the host once per (dependencies, lock, base Python). The key (a build argument: a new set is a new
    layer) names the wheels themselves, so a lock change that does not touch this image's wheels keeps its layers.
    """
    extras, _ = RUNTIMES[runtime]
    text = "\n".join([*project_requirements(extras), *marker_pins(python_version)]) + "\n"
    inputs = hashlib.sha256((text + LOCK.read_text() + python_version).encode()).hexdigest()
    folder = WHEELHOUSES / runtime
    stamp = folder / ".inputs"
    if not (stamp.is_file() and stamp.read_text() == inputs):
        print(f"{runtime}: collecting wheels for Python {python_version} into {folder.relative_to(REPO)}",
              flush=True)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copyfile(LOCK, folder / "constraints.txt")
        (folder / "requirements.txt").write_text(text)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(folder),
                        "-c", str(folder / "constraints.txt"), "-r", str(folder / "requirements.txt")], check=True)
        stamp.write_text(inputs)
    wheels = sorted(path.name for path in folder.glob("*.whl"))
    return hashlib.sha256("\n".join([text, *wheels]).encode()).hexdigest()[:16]


@contextlib.contextmanager
def serving_wheelhouses(port: int) -> Iterator[str]:
    """build/wheelhouse over HTTP on 127.0.0.1 while the builds run (they use the host network)."""
    handler = functools.partial(QuietHandler, directory=str(WHEELHOUSES))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as error:
        raise BuildError(f"cannot serve the wheelhouse on 127.0.0.1:{port} ({error}): pass --wheelhouse-port") \
            from None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """The wheelhouse's file server, without a log line per wheel."""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's signature
        """Log nothing."""


def build_image(runtime: str, base: str, revision: str, wheelhouse_url: str) -> dict:
    """`docker build` one runtime's image (its Dockerfile target) on the host network; returns its record."""
    reference = image(runtime)
    python_version = base_python(base)
    arguments = {"BASE_IMAGE": base, "WHEELHOUSE_URL": wheelhouse_url, "VERSION": __version__, "REVISION": revision,
                 "PIPELINE_WHEELS_KEY": wheelhouse("pipeline", python_version)}
    if runtime != "pipeline":
        arguments.update(TRAINER_WHEELS=runtime, TRAINER_WHEELS_KEY=wheelhouse(runtime, python_version))
    print(f"{runtime}: building {reference} on {base}", flush=True)
    started = time.monotonic()
    target = "pipeline" if runtime == "pipeline" else "trainer"
    docker("build", "--file", str(DOCKERFILE), "--target", target, "--tag", reference, "--network", "host",
           *[item for name, value in arguments.items() for item in ("--build-arg", f"{name}={value}")], str(REPO),
           capture=False)
    details = json.loads(docker("image", "inspect", reference))[0]
    record = {"image": reference, "id": details["Id"], "revision": details["Config"]["Labels"][REVISION_LABEL],
              "base": base, "size_bytes": details["Size"], "build_seconds": round(time.monotonic() - started, 1)}
    print(f"{runtime}: {reference} {details['Size'] / 1e9:.2f} GB in {record['build_seconds']} s", flush=True)
    return record


def push(record: dict) -> dict:
    """Push an image and record its digest reference (`name@sha256:...`), what compiled pipelines pin."""
    docker("push", record["image"], capture=False)
    name = record["image"].rsplit(":", 1)[0]
    digests = json.loads(docker("image", "inspect", "--format", "{{json .RepoDigests}}", record["image"]))
    pinned = [digest for digest in digests if digest.startswith(name + "@")]
    if not pinned:
        raise BuildError(f"pushed {record['image']} but the daemon reports no digest for {name}")
    return {**record, "digest_reference": pinned[0]}


def build_dataflow_worker(revision: str) -> None:
    """The Dataflow worker, only where its base (the Beam SDK image) can be had."""
    base = dockerfile_line(DATAFLOW_WORKER, "FROM ")
    if not image_exists(base):
        try:
            docker("pull", base, timeout=300)
        except (BuildError, subprocess.TimeoutExpired):
            print(f"dataflow-worker: skipped, its base {base} cannot be pulled here (images/README.md)", flush=True)
            return
    docker("build", "--file", str(DATAFLOW_WORKER), "--tag", DATAFLOW_WORKER_IMAGE,
           "--label", f"{REVISION_LABEL}={revision}", str(REPO), capture=False)


def main(argv: list[str] | None = None) -> int:
    """Build the images named (default: all), write build/images.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runtimes", nargs="*", metavar="RUNTIME",
                        help=f"images to build, of {', '.join(RUNTIMES)} [default: all]")
    parser.add_argument("--base-image", default=os.environ.get("BASE_IMAGE"),
                        help=f"base image [default: $BASE_IMAGE, else {PUBLIC_BASE}, else {DEBIAN_BASE} made "
                             "here with mmdebstrap]")
    parser.add_argument("--wheelhouse-port", type=int, default=8870,
                        help="127.0.0.1 port the builds fetch wheels from (fixed: it is part of the layer cache key) "
                        "[default: 8870]")
    parser.add_argument("--push", action="store_true", help="push each image and record its digest reference")
    parser.add_argument("--dataflow-worker", action="store_true",
                        help="also build the Dataflow worker image (needs the Beam SDK image)")
    args = parser.parse_args(argv)
    runtimes = args.runtimes or list(RUNTIMES)
    if unknown := set(runtimes) - set(RUNTIMES):
        parser.error(f"unknown image {', '.join(sorted(unknown))}; known: {', '.join(RUNTIMES)}")
    try:
        docker("version", "--format", "{{.Server.Version}}")
    except (BuildError, OSError):
        print("error: no Docker daemon: start docker (images/start-docker.sh)", file=sys.stderr)
        return 1
    try:
        base = resolve_base(args.base_image)
        revision = source_revision() or "unknown"
        records = json.loads(RECORD.read_text()) if RECORD.is_file() else {}
        with serving_wheelhouses(args.wheelhouse_port) as wheelhouse_url:
            for runtime in runtimes:
                records[runtime] = build_image(runtime, base, revision, wheelhouse_url)
                if args.push:
                    records[runtime] = push(records[runtime])
                RECORD.write_text(json.dumps(records, indent=2) + "\n")
        if args.dataflow_worker:
            build_dataflow_worker(revision)
    except (BuildError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"built {', '.join(runtimes)}; record in {RECORD.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the built images hold, read from the images themselves: nothing secret, nothing stray, and what they run.

Every layer of the CPU images (`docker save`, streamed; a layer both hold is read once) is read: no file path of
the source tree's leftovers (tests, .git, caches, local outputs), no credential file, and no file holding the
Dataloop emulator's signing key or a token signed with it; `docker history` shows no credential in any build step.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import subprocess
import tarfile

import pytest

from movinet_pipeline.core.images import image
from tests.dataloop_emulator.server import SIGNING_KEY
from tests.dataloop_emulator.store import Store

pytestmark = pytest.mark.docker


def _token_prefix(email: str) -> bytes:
    """What every token the emulator issues for `email` starts with (its header, and its claims' first bytes)."""
    def encoded(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data[: len(data) // 3 * 3])  # whole 3-byte groups: a stable prefix
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = json.dumps({"email": email, "sub": email}, separators=(",", ":"))[:-1].encode()
    return header.rstrip(b"=") + b"." + encoded(claims)


NEEDLES = (SIGNING_KEY.encode(), _token_prefix(Store.user_email))
STRAY = re.compile(r"(^|/)(\.git|\.pytest_cache|\.venv|movinet-run|\.dataloop|\.docker|\.netrc|build/wheelhouse)(/|$)"
                   r"|^src/|(^|/)(cookie\.json|pip\.conf|id_rsa|id_ed25519)$|site-packages/tests/")


def _holds_a_needle(stream, chunk: int = 1 << 20) -> bool:
    """Whether the file `stream` holds one of NEEDLES, read a chunk at a time (a layer's libraries run to gigabytes:
    read whole, they would hold that much memory at once).
    """
    overlap, tail = max(map(len, NEEDLES)) - 1, b""
    while block := stream.read(chunk):
        window = tail + block
        if any(needle in window for needle in NEEDLES):
            return True
        tail = window[-overlap:]
    return False


@dataclasses.dataclass
class LayerScan:
    """What one layer holds: its paths, those that should not be in an image, those holding credential material."""

    paths: int = 0
    stray: list[str] = dataclasses.field(default_factory=list)
    leaked: list[str] = dataclasses.field(default_factory=list)
    installs_the_project: bool = False


def _scan_layers(references: list[str]) -> tuple[dict[str, LayerScan], list[dict]]:
    """Every layer of the images, each read once (`docker save` of them all streams a layer they share once), and
    the saved manifest (each image's layers, by name).
    """
    saved = subprocess.Popen(["docker", "save", *references], stdout=subprocess.PIPE)
    layers, manifest = {}, []
    with tarfile.open(fileobj=saved.stdout, mode="r|") as archive:
        for member in archive:
            if not member.isfile():
                continue
            stream = archive.extractfile(member)
            if member.name == "manifest.json":
                manifest = json.load(stream)
                continue
            try:
                with tarfile.open(fileobj=stream, mode="r|") as layer:
                    scan = LayerScan()
                    for entry in layer:
                        scan.paths += 1
                        scan.installs_the_project |= entry.name.endswith("site-packages/movinet_pipeline/__init__.py")
                        if STRAY.search(entry.name):
                            scan.stray.append(entry.name)
                        if entry.isfile() and _holds_a_needle(layer.extractfile(entry)):
                            scan.leaked.append(entry.name)
                    layers[member.name] = scan
            except tarfile.ReadError:  # the images' configs, not layers
                continue
    assert saved.wait() == 0
    return layers, manifest


RUNTIMES = ("pipeline", "trainer-cpu")


@pytest.fixture(scope="module")
def scanned_layers() -> tuple[dict[str, LayerScan], list[dict]]:
    return _scan_layers([image(runtime) for runtime in RUNTIMES])


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_no_secret_or_stray_file_in_any_layer(runtime, scanned_layers):
    reference = image(runtime)
    history = subprocess.run(["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", reference],
                             capture_output=True, text=True, check=True).stdout
    assert not re.search(r"DATALOOP_(API_KEY|M2M)|KFP_TOKEN|PASSWORD|SECRET", history, re.IGNORECASE), history
    layers, manifest = scanned_layers
    (saved,) = [entry for entry in manifest if reference in entry["RepoTags"]]
    scans = [layers[name] for name in saved["Layers"]]
    assert sum(scan.paths for scan in scans) > 10_000  # the layers were read (a venv holds tens of thousands of files)
    assert [path for scan in scans for path in scan.stray] == [], f"should not be in {reference}"
    assert [path for scan in scans for path in scan.leaked] == [], f"credential material in {reference}"
    assert any(scan.installs_the_project for scan in scans), f"the project is not installed in {reference}"

"""What the built images hold, read from the images themselves: nothing secret, nothing stray, and what they run.

Every layer of each CPU image (`docker save`, streamed) is read: no file path of the source tree's leftovers
(tests, .git, caches, local outputs), no credential file, and no file holding the Dataloop emulator's signing key or
a token signed with it; `docker history` shows no credential in any build step.
"""

from __future__ import annotations

import base64
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


def _layer_files(reference: str):
    """(path, holds a needle or None) of every file in every layer of the image, streamed from `docker save`."""
    saved = subprocess.Popen(["docker", "save", reference], stdout=subprocess.PIPE)
    with tarfile.open(fileobj=saved.stdout, mode="r|") as archive:
        for member in archive:
            if not member.isfile():
                continue
            stream = archive.extractfile(member)
            try:
                with tarfile.open(fileobj=stream, mode="r|") as layer:
                    for entry in layer:
                        if entry.isfile():
                            yield entry.name, _holds_a_needle(layer.extractfile(entry))
                        else:
                            yield entry.name, None
            except tarfile.ReadError:  # the image's config and manifest JSON, not layers
                continue
    assert saved.wait() == 0


@pytest.mark.parametrize("runtime", ["pipeline", "trainer-cpu"])
def test_no_secret_or_stray_file_in_any_layer(runtime):
    reference = image(runtime)
    history = subprocess.run(["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", reference],
                             capture_output=True, text=True, check=True).stdout
    assert not re.search(r"DATALOOP_(API_KEY|M2M)|KFP_TOKEN|PASSWORD|SECRET", history, re.IGNORECASE), history
    paths, leaked, installed = 0, [], False
    for path, holds_a_needle in _layer_files(reference):
        paths += 1
        installed |= path.endswith("site-packages/movinet_pipeline/__init__.py")
        assert not STRAY.search(path), f"{path} should not be in {reference}"
        if holds_a_needle:
            leaked.append(path)
    assert paths > 10_000, paths  # the layers were read (a venv holds tens of thousands of files)
    assert leaked == [], f"credential material in {reference}: {leaked}"
    assert installed, f"the project is not installed in {reference}"

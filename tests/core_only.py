"""Simulate the pipeline image (the core install, no `train` extra) inside this environment: every installed
distribution outside the core's dependency closure becomes unimportable, as it is absent from the image.

`python -m tests.core_only <module>...` imports the modules; `run_core_only(code)` runs Python code that way.
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata
import re
import subprocess
import sys

from packaging.requirements import Requirement

ALWAYS = {"movinet-pipeline", "pip", "setuptools", "wheel"}  # the project itself, and the images' base interpreter


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def core_closure(extra: str = "") -> set[str]:
    """Every distribution `pip install movinet-pipeline` (no extras; or `[extra]`) brings, read from the installed
    metadata, following the extras each requirement asks for (e.g. google-api-core[grpc]).
    """

    def requirements(name: str, extra: str) -> list[tuple[str, str]]:
        wanted = [Requirement(r) for r in importlib.metadata.requires(name) or []]
        return [(normalise(r.name), e) for r in wanted if not r.marker or r.marker.evaluate({"extra": extra})
                for e in ("", *r.extras)]

    seen: set[tuple[str, str]] = set()
    pending = requirements("movinet-pipeline", "") + (requirements("movinet-pipeline", extra) if extra else [])
    while pending:
        entry = pending.pop()
        if entry not in seen:
            seen.add(entry)
            pending += requirements(*entry)
    return {name for name, _ in seen}


class _Absent(importlib.abc.MetaPathFinder):
    def __init__(self, modules: set[str]) -> None:
        self.modules = modules

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.modules:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the pipeline image)", name=name)
        return None


def block_non_core() -> set[str]:
    """Make the top-level modules of non-core distributions unimportable; return the blocked distributions."""
    allowed = core_closure() | ALWAYS
    owners = importlib.metadata.packages_distributions()
    blocked = {module for module, dists in owners.items()
               if not {normalise(d) for d in dists} & allowed and module not in sys.stdlib_module_names}
    sys.meta_path.insert(0, _Absent(blocked))
    return {normalise(d) for module in blocked for d in owners[module]}


def run_core_only(code: str, cwd, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `code` (with `args` in sys.argv[1:]) in a fresh interpreter that sees only the core install."""
    prelude = "from tests.core_only import block_non_core; block_non_core()\n"
    return subprocess.run([sys.executable, "-c", prelude + code, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


if __name__ == "__main__":
    blocked = block_non_core()
    assert "tensorflow" in blocked, "the simulation must hide TensorFlow"
    for module in sys.argv[1:]:
        importlib.import_module(module)
    print("imported without", len(blocked), "non-core distributions")

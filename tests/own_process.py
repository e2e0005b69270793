"""Tests marked `own_process` run in a pytest process of their own, started by the worker that was given them.

TensorFlow never gives back what a test's models held (Model Garden's XLA-compiled kernels, traced functions), and a
pytest-xdist worker lives for the whole session: a few tests that each load several MoViNets would otherwise leave
gigabytes in their worker, and two such workers can exhaust the machine. A fresh process per test returns it all.
Only the call moves: the worker sets up and tears down the test's fixtures as for any test (they are cheap: what is
expensive to build is built once, tests/shared_builds.py), the child sets up its own and reuses the shared builds
(MOVINET_SHARED_BUILDS); the child's failure, with its output, is the test's failure.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.shared_builds import SHARED_BUILDS_VARIABLE, shared_builds_root

CHILD_VARIABLE = "MOVINET_TEST_CHILD"  # set in the child: run the test in-process there
# Where each xdist worker writes the group of every test it collected, for the controller's scheduler
# (tests/conftest.py); a child is no worker and writes none.
GROUPS_VARIABLE = "MOVINET_TEST_GROUPS"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Call an `own_process` test in a child pytest (its fixtures set up there too); leave every other to pytest."""
    if os.environ.get(CHILD_VARIABLE) or pyfuncitem.get_closest_marker("own_process") is None:
        return None
    factory = pyfuncitem.config._tmp_path_factory
    env = {key: value for key, value in os.environ.items() if key not in ("PYTEST_XDIST_WORKER", GROUPS_VARIABLE)}
    env.update({CHILD_VARIABLE: "1", SHARED_BUILDS_VARIABLE: str(shared_builds_root(factory))})
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-q", "-p", "no:cacheprovider", "--basetemp",
         str(factory.mktemp("own-process")), pyfuncitem.nodeid],
        cwd=pyfuncitem.config.rootpath, env=env, capture_output=True, text=True)
    if completed.returncode != 0:  # 5: the child collected nothing
        pytest.fail(f"the test's own process exited {completed.returncode}:\n{completed.stdout[-12000:]}\n"
                    f"{completed.stderr[-4000:]}", pytrace=False)
    return True

"""Tests marked `own_process` run in a pytest process of their own, started by the worker that was given them.

TensorFlow never gives back what a test's models held (Model Garden's XLA-compiled kernels, traced functions), and a
pytest-xdist worker lives for the whole session: a few tests that each load several MoViNets would otherwise leave
gigabytes in their worker, and two such workers can exhaust the machine. A fresh process per test returns it all.
The child rebuilds the test's fixtures (shared builds are reused: MOVINET_SHARED_BUILDS); its outcome, duration and,
on failure, its output become the test's report in the worker, so -x, --durations and xdist see an ordinary test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.shared_builds import SHARED_BUILDS_VARIABLE, shared_builds_root

CHILD_VARIABLE = "MOVINET_TEST_CHILD"  # set in the child: run the test in-process there
# Where each xdist worker writes the group of every test it collected, for the controller's scheduler
# (tests/conftest.py); a child is no worker and writes none.
GROUPS_VARIABLE = "MOVINET_TEST_GROUPS"
OUTCOMES = {0: "passed", 1: "failed", 5: "failed"}  # pytest's exit codes: 5 = the child collected nothing


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """Run an `own_process` test in a child pytest and report what it did; leave every other test to pytest."""
    if os.environ.get(CHILD_VARIABLE) or item.get_closest_marker("own_process") is None:
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    basetemp = item.config._tmp_path_factory.mktemp("own-process")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTEST_XDIST_WORKER", GROUPS_VARIABLE)}
    env.update({CHILD_VARIABLE: "1", SHARED_BUILDS_VARIABLE: str(shared_builds_root(item.config._tmp_path_factory))})
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-q", "-p", "no:cacheprovider", "--basetemp", str(basetemp),
         item.nodeid], cwd=item.config.rootpath, env=env, capture_output=True, text=True)
    duration = time.monotonic() - started
    outcome = OUTCOMES.get(completed.returncode, "failed")
    output = f"{completed.stdout[-12000:]}\n{completed.stderr[-4000:]}"
    longrepr = None if outcome == "passed" else f"the test's own process exited {completed.returncode}:\n{output}"
    for when in ("setup", "call", "teardown"):
        report = pytest.TestReport(item.nodeid, item.location, {k: 1 for k in item.keywords},
                                   outcome if when == "call" else "passed", longrepr if when == "call" else None,
                                   when, duration=duration if when == "call" else 0.0)
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True

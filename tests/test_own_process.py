"""tests/own_process.py: an `own_process` test is called in a child pytest, and the child's failure is the test's."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO

CONFTEST = """
from tests.own_process import pytest_pyfunc_call  # noqa: F401


def pytest_configure(config):
    config.addinivalue_line("markers", "own_process: runs in a pytest process of its own")
"""

TESTS = """
import os

import pytest


def _record(name):
    with open(os.environ["PROCESS_LOG"], "a") as log:
        log.write(f"{name} {os.getpid()} {os.environ.get('MOVINET_TEST_CHILD', '-')}\\n")


@pytest.fixture
def recorded(request):
    _record(f"setup:{request.node.name}")


def test_here(recorded):
    _record("test_here")


@pytest.mark.own_process
def test_in_a_child(recorded):
    _record("test_in_a_child")


@pytest.mark.own_process
def test_failing_in_a_child():
    assert False, "the child's own failure"
"""


def test_an_own_process_test_is_called_in_a_child_whose_failure_is_the_tests(tmp_path: Path):
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_children.py").write_text(textwrap.dedent(TESTS))
    log = tmp_path / "processes.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PROCESS_LOG": str(log)}
    env.pop("PYTEST_XDIST_WORKER", None)
    completed = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "0",
                                "--basetemp", str(tmp_path / "base"), "test_children.py"],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "1 failed, 2 passed" in completed.stdout, completed.stdout[-3000:] + completed.stderr[-2000:]
    assert "the test's own process exited 1" in completed.stdout and "the child's own failure" in completed.stdout
    records = [line.split() for line in log.read_text().splitlines()]
    where = {name: (int(pid), child) for name, pid, child in records}
    assert where["test_here"][1] == "-" and where["test_in_a_child"][1] == "1"
    assert where["test_here"][0] != where["test_in_a_child"][0]
    # the worker sets the fixture up as for any test, and the child again, where the test runs
    assert [child for name, _, child in records if name == "setup:test_in_a_child"] == ["-", "1"]

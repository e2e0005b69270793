"""Every step: its own deadline, and a last log line (and failure record) that says why it failed."""

import json
import subprocess
import sys
import time

from movinet_pipeline.core.step_runtime import FAILURE_LOG_VARIABLE, TIMEOUT_VARIABLE, read_failures
from tests.conftest import REPO


def _step(body: str, tmp_path, **env):
    code = f"from movinet_pipeline.core.step_runtime import begin_step\nbegin_step('demo')\n{body}\n"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", FAILURE_LOG_VARIABLE: str(tmp_path / "failures.jsonl"),
                               **env})


def test_a_step_past_its_deadline_stops_with_one_line_naming_the_step_and_the_limit(tmp_path):
    started = time.monotonic()
    completed = _step("import time\nfor _ in range(600): time.sleep(0.1)", tmp_path, **{TIMEOUT_VARIABLE: "1"})
    assert time.monotonic() - started < 30 and completed.returncode == 1
    last = completed.stderr.strip().splitlines()[-1]
    assert last == f"step demo failed: StepTimeout: step demo ran past its timeout of 1 s ({TIMEOUT_VARIABLE})"
    assert "Traceback" in completed.stderr  # the traceback stays, above the line
    assert read_failures(tmp_path / "failures.jsonl") == [{"step": "demo", "error": last.split(": ", 1)[1]}]


def test_an_error_ends_the_log_with_its_one_line_reason(tmp_path):
    completed = _step("raise ValueError('item 7 has\\n  a reversed frame range')", tmp_path)
    assert completed.stderr.strip().splitlines()[-1] == (
        "step demo failed: ValueError: item 7 has a reversed frame range")
    assert json.loads((tmp_path / "failures.jsonl").read_text())["step"] == "demo"


def test_a_step_that_succeeds_records_nothing(tmp_path):
    completed = _step("print('done')", tmp_path, **{TIMEOUT_VARIABLE: "60"})
    assert completed.returncode == 0 and completed.stdout.strip() == "done"
    assert read_failures(tmp_path / "failures.jsonl") == []

"""What every pipeline step does first: logging, its own deadline, and a last log line that says why it failed.

- The deadline comes from `MOVINET_STEP_TIMEOUT_S` (the pipeline sets it on every task from `platform.STEPS`, on
  every target; Kubernetes also enforces it from outside, Vertex AI only through this): when it passes, the step
  stops with `StepTimeout` naming the step and the limit.
- An uncaught error still prints its traceback, then one line `step <name> failed: <Error>: <message>` as the very
  last line of the step's log, and, when `MOVINET_FAILURE_LOG` names a file (a local run sets it), appends it there
  as JSON, so the local runner can end with the failed step's own reason.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import TracebackType

from movinet_pipeline.core.logs import setup_logging

TIMEOUT_VARIABLE = "MOVINET_STEP_TIMEOUT_S"
FAILURE_LOG_VARIABLE = "MOVINET_FAILURE_LOG"


class StepTimeout(TimeoutError):
    """The step ran past its deadline."""


def one_line(error: BaseException, limit: int = 600) -> str:
    """`<Error>: <message>` on one line (whitespace collapsed, at most `limit` characters)."""
    message = " ".join(str(error).split())
    line = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return line if len(line) <= limit else line[:limit - 1] + "…"


def record_failure(step: str, error: BaseException) -> None:
    """Append the step's one-line failure to `$MOVINET_FAILURE_LOG`, if set."""
    path = os.environ.get(FAILURE_LOG_VARIABLE)
    if path:
        with open(path, "a", encoding="utf-8") as log_file:
            log_file.write(json.dumps({"step": step, "error": one_line(error)}) + "\n")


def read_failures(path: str | Path) -> list[dict]:
    """The failures recorded in `path`, oldest first ([] when there is none)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _arm_deadline(step: str) -> None:
    seconds = int(os.environ.get(TIMEOUT_VARIABLE) or 0)
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        return

    def expire(signum, frame) -> None:
        raise StepTimeout(f"step {step} ran past its timeout of {seconds} s ({TIMEOUT_VARIABLE})")

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)


def begin_step(step: str) -> None:
    """Set up logging, arm the step's deadline, and make an uncaught error end the log with one line."""
    setup_logging()
    _arm_deadline(step)
    previous = sys.excepthook

    def report(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
        previous(kind, error, traceback)
        record_failure(step, error)
        print(f"step {step} failed: {one_line(error)}", file=sys.stderr, flush=True)

    sys.excepthook = report

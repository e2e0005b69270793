"""Logging set-up shared by the CLI and the components: one readable line per event, TensorFlow kept quiet."""

from __future__ import annotations

import logging
import os
import sys
import warnings


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up noise (CUDA probing, oneDNN notes) out of the logs; call before importing TF."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of the record (it may be replaced, e.g. by a test runner)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup_logging(verbose: bool = False) -> None:
    """One readable line per event on stderr; TensorFlow and Beam kept quiet."""
    quiet_tensorflow()
    handler = _CurrentStderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    for noisy in ("apache_beam", "absl", "tensorflow", "h5py", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

"""Progress of a local Beam job, seen from the driver while the runner blocks it.

Each worker process appends one byte per finished manifest entry to its own file in a shared folder; a driver thread
sums the sizes and shows a progress bar on a terminal, or a log line every 10 % (KFP and Dataflow launcher logs are
line based). Remote runners show their own progress (the Dataflow console), so they get no folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)


def mark_done(folder: str | None) -> None:
    """Count one finished entry (called on a worker)."""
    if folder:
        with open(Path(folder) / f"{os.getpid()}-{threading.get_ident()}", "ab") as counter:
            counter.write(b".")


class JobProgress:
    """`with JobProgress(total, local) as progress:` run the job with `progress.folder` handed to the workers."""

    def __init__(self, total: int, local: bool, interval_s: float = 0.5) -> None:
        self.total, self.interval_s = total, interval_s
        self.folder = tempfile.mkdtemp(prefix="beam-progress-") if local else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._bar = None
        self._logged_tenths = 0
        self._started = time.monotonic()

    def done(self) -> int:
        """Entries the workers finished so far."""
        if not self.folder:
            return 0
        return sum(entry.stat().st_size for entry in os.scandir(self.folder))

    def __enter__(self) -> JobProgress:
        if self.folder:
            if sys.stderr.isatty():
                from tqdm import tqdm

                self._bar = tqdm(total=self.total, unit="video", desc="TFRecords")
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.folder:
            self._stop.set()
            self._thread.join()
            self._show(self.done())
            if self._bar is not None:
                self._bar.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._show(self.done())

    def _show(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
            return
        tenths = done * 10 // max(1, self.total)
        if tenths > self._logged_tenths:
            self._logged_tenths = tenths
            rate = done / max(1e-9, time.monotonic() - self._started)
            log.info("TFRecords: %d/%d videos (%d%%), %.1f videos/s", done, self.total,
                     100 * done // max(1, self.total), rate)

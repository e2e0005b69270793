"""The Beam worker code path imports no TensorFlow (~5 s and ~0.8 GB per worker process otherwise)."""

import subprocess
import sys

from tests.conftest import REPO


def test_tfrecord_workers_do_not_import_tensorflow():
    code = ("import sys, movinet_pipeline.core.examples.job, movinet_pipeline.core.sources.download_folder; "
            "heavy = sorted(m for m in ('tensorflow', 'tf_keras', 'official') if m in sys.modules); "
            "print(heavy); sys.exit(1 if heavy else 0)")
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr


"""select_best logic: of a sweep's candidates (model + evaluation folders), pick the best blessed one by a metric.

The chosen model and evaluation are copied to the outputs, so the register step downstream sees one model, and a
Markdown table of every candidate says why it won.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from movinet_pipeline.core import layouts
from movinet_pipeline.core.config import read_config

log = logging.getLogger(__name__)


class SelectionError(RuntimeError):
    """No candidate can be compared; the message says why."""


@dataclass(frozen=True)
class Candidate:
    """One trained model_id of a sweep, with its score and verdict."""
    index: int
    model_id: str
    score: float
    blessed: bool


def _candidate(index: int, model_dir: Path, evaluation_dir: Path, metric: str) -> Candidate:
    figures = json.loads((evaluation_dir / layouts.METRICS).read_text())
    if metric not in figures or not isinstance(figures[metric], (int, float)):
        numeric = sorted(k for k, v in figures.items() if isinstance(v, (int, float)))
        raise SelectionError(f"selection metric {metric!r} is not in {evaluation_dir / layouts.METRICS}; "
                             f"one of {numeric}")
    verdict = json.loads((evaluation_dir / layouts.VERDICT).read_text())
    return Candidate(index, read_config(layouts.ModelFolder(model_dir).config).model_id, float(figures[metric]),
                     bool(verdict["blessed"]))


def select_best(model_dirs: list[str], evaluation_dirs: list[str], metric: str, best_model: str | Path,
                best_evaluation: str | Path) -> tuple[Candidate, str]:
    """Copy the winner to `best_model` / `best_evaluation`; return it and a Markdown summary of all candidates.

    Blessed candidates win over unblessed ones; among equals the higher `metric` wins, then the earlier entry.
    """
    if not model_dirs or len(model_dirs) != len(evaluation_dirs):
        raise SelectionError(f"need one evaluation per model, got {len(model_dirs)} models and "
                             f"{len(evaluation_dirs)} evaluations")
    candidates = [_candidate(i, Path(m), Path(e), metric) for i, (m, e) in enumerate(zip(model_dirs, evaluation_dirs))]
    best = max(candidates, key=lambda c: (c.blessed, c.score, -c.index))
    shutil.copytree(model_dirs[best.index], best_model, dirs_exist_ok=True)
    shutil.copytree(evaluation_dirs[best.index], best_evaluation, dirs_exist_ok=True)
    rows = "\n".join(f"| {c.model_id} | {c.score:.4f} | {'yes' if c.blessed else 'no'} |"
                     f"{' **selected**' if c is best else ''} |" for c in candidates)
    summary = f"# Sweep over model_id\n\n| model_id | {metric} | blessed | |\n|---|---|---|---|\n{rows}\n"
    log.info("selected %s (%s %.4f, %s) of %d candidates", best.model_id, metric, best.score,
             "blessed" if best.blessed else "NOT blessed", len(candidates))
    return best, summary

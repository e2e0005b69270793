"""What the figures stand on: the data lost before training, and whether the measured subset is independent.

The best epoch is chosen on `validation`; a figure measured there is optimistic. Evaluation uses `test` when the
examples have it; otherwise the verdict and the report say so. Lost items (the examples' `stats.json`) are listed.
"""

from __future__ import annotations

import json

from movinet_pipeline.core import layouts
from movinet_pipeline.core.clients import storage

LISTED = 100  # lost items listed in the verdict (all are in errors.jsonl)


def measured_on(subset: str) -> dict:
    """Whether `subset` is held out from every training decision, and a sentence saying so."""
    independent = subset == "test"
    note = ("measured on the held-out test subset" if independent else
            f"measured on {subset}, the subset that also chose the best epoch: optimistic; add a test subset "
            "(a /test folder, an ML-subset tag or subset_filters) for an unbiased figure")
    return {"subset": subset, "independent": independent, "note": note}


def data_lost(examples_dir: str) -> dict:
    """The labelled data lost before training, and the model-made annotations the export left out.

    Lost: a count, a fraction and the first `LISTED` items (all are in errors.jsonl).
    """
    path = layouts.Examples(str(examples_dir)).stats
    stats = json.loads(storage.read_text(path)) if storage.exists(path) else {}
    items = stats.get("lost_items", [])
    return {"lost": stats.get("lost", 0), "lost_fraction": stats.get("lost_fraction", 0.0),
            "lost_items": items[:LISTED], "lost_items_listed": min(len(items), LISTED),
            "model_annotations_excluded": stats.get("model_annotations_excluded", 0)}


def annotate(verdict: dict, examples_dir: str, subset: str) -> dict:
    """The verdict with where its figure comes from and what data was lost, both also in its reason."""
    measured, data = measured_on(subset), data_lost(examples_dir)
    reason = f"{verdict['reason']}; {measured['note']}"
    if data["lost"]:
        reason += f"; {data['lost']} labelled item(s) or clip(s) lost before training ({data['lost_fraction']:.1%})"
    return {**verdict, "reason": reason, "measured_on": measured, "data": data}

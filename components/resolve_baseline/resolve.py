"""resolve_baseline step: which model the candidate is compared with (the model serving now), fetched as a folder.

As TFX's Evaluator takes a baseline model and Vertex AI samples look one up before evaluating: this step runs first
(never cached: the newest registered model changes between runs), so evaluate needs no registry and no credentials.

- a reference (`dataloop://<model-id>`, a registry entry or a model folder): that model;
- empty: the newest trained model in the run's registry whose lineage has the same dataset source (scheduled
  retraining compares with the previous run's model); none yet, or no registry: no baseline;
- `none`: no baseline; the gate then uses its absolute thresholds only.

The output folder is a model folder (layouts.ModelFolder) plus `baseline.json` naming the reference, or holds only
`baseline.json` (reference "") when there is no baseline.
"""

from __future__ import annotations

import logging
from pathlib import Path

from movinet_pipeline.core import layouts
from movinet_pipeline.core.registries import model_registry, registry_of_reference

log = logging.getLogger(__name__)
NO_BASELINE = "none"


def dataset_source_of(dataset_dir: str | Path) -> str:
    """The `source` the export recorded in `export.json` ("" when it recorded none)."""
    return layouts.read_export_info(dataset_dir).get("source", "")


def resolve_baseline(reference: str, registry: str, dataset_dir: str | Path, output: str | Path) -> str:
    """Fetch the baseline into `output`; return its reference ("" for none)."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    if reference == NO_BASELINE:
        log.info("baseline: none (turned off)")
        reference = ""
    elif not reference:
        source = dataset_source_of(dataset_dir)
        reference = model_registry(registry).latest_for_source(source) if registry and source else ""
        log.info("baseline: %s", f"{reference}, the newest model registered for {source}" if reference else
                 f"none registered in {registry or 'the run'} for {source or 'this dataset'} yet")
    if reference:
        registry_of_reference(reference).fetch(reference, output)
    layouts.write_baseline_reference(output, reference)
    return reference


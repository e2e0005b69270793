"""KFP component: validate the run's parameters into the one configuration file every later step reads."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Output

from movinet_pipeline.core.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def make_config(
    config: Output[Artifact],
    hub_version: int = 3,
    model_id: str = "a0",
    model_mode: str = "base",
    imgz: int = 224,
    batch_size: int = 2,
    num_epochs: int = 8,
    n_frames: int = 13,
    top_k: int = 3,
    learning_rate: float = 0.001,
    cache_root: str = "",
    extra_config: str = "{}",
) -> NamedTuple("Outputs", [("export_options", str)]):
    """Fail fast on invalid values; write config.json.

    The configuration keys that are run parameters (core.parameters.CONFIG: the nine seed keys and cache_root; KFP
    needs them written out here, a test checks they match); `extra_config` is a JSON mapping of the other
    configuration keys. Returns `export_options`: what the export step reads (core.sources.export_options_json).
    """
    import json
    from typing import NamedTuple

    from movinet_pipeline.core.config import PARAMETER_KEYS, from_mapping, write_config
    from movinet_pipeline.core.sources import export_options_json

    arguments = locals()
    by_name = {key: arguments[key] for key in PARAMETER_KEYS}
    resolved = from_mapping({**json.loads(extra_config or "{}"), **by_name})
    write_config(resolved, config.path)
    config.metadata.update(resolved.to_dict())
    return NamedTuple("Outputs", [("export_options", str)])(export_options_json(resolved))

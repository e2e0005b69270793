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
    extra_config: str = "{}",
) -> NamedTuple("Outputs", [("export_options", str)]):
    """Fail fast on invalid values; write config.json.

    The nine seed keys are the parameters of core.parameters.SEED (KFP needs them written out here; a test checks
    they match); `extra_config` is a JSON mapping of the other configuration keys. Returns `export_options`: the
    export's keys (config.EXPORT_KEYS) as JSON.
    """
    import json
    from typing import NamedTuple

    from movinet_pipeline.core.config import EXPORT_KEYS, SEED_KEYS, from_mapping, write_config

    arguments = locals()
    seed = {key: arguments[key] for key in SEED_KEYS}
    resolved = from_mapping({**json.loads(extra_config or "{}"), **seed})
    write_config(resolved, config.path)
    config.metadata.update(resolved.to_dict())
    values = resolved.to_dict()
    return NamedTuple("Outputs", [("export_options", str)])(
        json.dumps({key: values[key] for key in EXPORT_KEYS}, sort_keys=True))

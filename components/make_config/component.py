"""KFP component: validate the run's parameters into the one configuration file every later step reads."""

from kfp import dsl
from kfp.dsl import Artifact, Output

from movinet_pipeline.images import PIPELINE_IMAGE


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
):
    """Fail fast on invalid values; write config.json. `extra_config` is a JSON mapping of our other keys."""
    import json

    from movinet_pipeline.config import from_mapping, write_config

    values = dict(hub_version=hub_version, model_id=model_id, model_mode=model_mode, imgz=imgz,
                  batch_size=batch_size, num_epochs=num_epochs, n_frames=n_frames, top_k=top_k,
                  learning_rate=learning_rate)
    resolved = from_mapping({**json.loads(extra_config or "{}"), **values})
    write_config(resolved, config.path)
    config.metadata.update(resolved.to_dict())

"""Weights for model tests: non-trivial values where a freshly built MoViNet has constants."""

from __future__ import annotations

import numpy as np


def perturb(variables, seed: int) -> None:
    """Weights like a trained model's: kernels keep their initialisation, batch-norm statistics, offsets and the
    zero-initialised ReZero scales move (with those at zero the depthwise convolutions would drop out of the output).
    Batch-norm variances stay positive, or inference mode gives NaN.
    """
    rng = np.random.default_rng(seed)
    for variable in variables:
        name = variable.name
        if "moving_variance" in name:
            values = rng.uniform(0.5, 1.5, variable.shape)
        elif "gamma" in name:
            values = rng.uniform(0.8, 1.2, variable.shape)
        elif "moving_mean" in name or "beta" in name or "bias" in name or name.endswith("scale:0"):
            values = rng.normal(0, 0.3 if name.endswith("scale:0") else 0.05, variable.shape)
        else:
            continue
        variable.assign(values.astype(variable.dtype.as_numpy_dtype))

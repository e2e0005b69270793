"""Installed size of the Python packages each image gets.

Installed size of the Python packages each image gets: the core install (pipeline image) against core + `train`
(what the trainer image adds before CUDA). Summed from the installed files of each distribution in the dependency
closure, in this environment; docker cannot run here to measure the images themselves.

    .venv/bin/python -m benchmarks.image_payload
"""

from __future__ import annotations

import importlib.metadata
import os

from tests.core_only import core_closure, normalise


def installed_bytes(names: set[str]) -> int:
    """Bytes installed by the distributions `names`."""
    distributions = {normalise(d.metadata["Name"]): d for d in importlib.metadata.distributions()}
    total = 0
    for name in names:
        for file in distributions[name].files or []:
            path = distributions[name].locate_file(file)
            if os.path.isfile(path):
                total += os.path.getsize(path)
    return total


def main() -> None:
    """Print the pipeline image's package payload against the trainer's."""
    core, train = core_closure(), core_closure("train")
    core_mb, train_mb = installed_bytes(core) / 1e6, installed_bytes(train) / 1e6
    print(f"pipeline image (core):        {len(core):4d} distributions, {core_mb:7.0f} MB")
    print(f"core + train (trainer image): {len(train):4d} distributions, {train_mb:7.0f} MB")
    print(f"ratio: the pipeline image's packages are {core_mb / train_mb:.2f}x of core + train")
    largest = sorted(train - core, key=lambda n: -installed_bytes({n}))[:5]
    left_out = ", ".join(f"{n} {installed_bytes({n}) / 1e6:.0f} MB" for n in largest)
    print("largest left out of the pipeline image:", left_out)


if __name__ == "__main__":
    main()

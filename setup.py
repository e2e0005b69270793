"""One import package: the top-level folders the layout asks for install under the project's namespace.

`components/`, `pipelines/` and `dataloop_adapter/` become `movinet_pipeline.components`, `.pipelines` and
`.dataloop_adapter` (a package-dir mapping, as kubeflow/pipelines-components maps its folders), so `pip install .`
adds exactly one top-level import package. Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_packages, setup

MAPPED_FOLDERS = {"components": "movinet_pipeline.components", "pipelines": "movinet_pipeline.pipelines",
                  "dataloop_adapter": "movinet_pipeline.dataloop_adapter"}
package_dir = {"movinet_pipeline": "movinet_pipeline"}
packages = find_packages(include=["movinet_pipeline", "movinet_pipeline.*"])
for folder, name in MAPPED_FOLDERS.items():
    if not Path(folder).is_dir():  # an image may copy only what it runs (the Dataflow worker has no adapter)
        continue
    package_dir[name] = folder
    packages += [name] + [f"{name}.{sub}" for sub in find_packages(where=folder)]
    package_dir.update({f"{name}.{sub}": f"{folder}/{sub.replace('.', '/')}" for sub in find_packages(where=folder)})

setup(package_dir=package_dir, packages=packages)

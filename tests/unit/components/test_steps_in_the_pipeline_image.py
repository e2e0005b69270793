"""The pipeline image's steps really run without TensorFlow: each KFP component function of the CPU steps, called
as the KFP executor calls it, with every distribution outside the core install hidden (tests/core_only.py).
"""

import json

from movinet_pipeline.core import layouts
from tests.conftest import REPO
from tests.core_only import run_core_only

STEPS = """
import json, os, sys
from kfp.dsl import HTML, Artifact, Dataset, Markdown, Model
from movinet_pipeline.components.build_tfrecords.component import build_tfrecords
from movinet_pipeline.components.export_dataset.component import export_dataset
from movinet_pipeline.components.make_config.component import make_config
from movinet_pipeline.components.register_model.component import register_model
from movinet_pipeline.components.resolve_baseline.component import resolve_baseline
from movinet_pipeline.components.select_best.component import select_best

sample, model, evaluation, work = sys.argv[1:5]
def artifact(kind, name):
    os.makedirs(os.path.dirname(os.path.join(work, name)), exist_ok=True)
    return kind(uri=os.path.join(work, name))

config = artifact(Artifact, "config/config.json")
make_config.python_func(config=config, imgz=64, n_frames=4, extra_config='{"num_shards": 1}')
dataset = artifact(Dataset, "export/dataset")
export_dataset.python_func(source=sample, dataset=dataset)
examples = artifact(Dataset, "records/examples")
build_tfrecords.python_func(dataset=dataset, config=config, examples=examples,
                            contact_sheet=artifact(HTML, "records/contact_sheet.html"),
                            beam_options="--direct_running_mode=in_memory --direct_num_workers=1")
best_model, best_evaluation = artifact(Model, "select/model"), artifact(Artifact, "select/evaluation")
blessed = select_best.python_func(models=[Model(uri=model)], evaluations=[Artifact(uri=evaluation)],
                                  best_model=best_model, best_evaluation=best_evaluation,
                                  summary=artifact(Markdown, "select/summary.md"))
registered = artifact(Artifact, "register/registered")
register_model.python_func(model=best_model, evaluation=best_evaluation, dataset=dataset, registered=registered,
                           registry=os.path.join(work, "registry"), run_id="image-test")
baseline = artifact(Model, "baseline/model")
resolve_baseline.python_func(dataset=dataset, baseline=baseline, registry=os.path.join(work, "registry"))
heavy = sorted(m for m in ("tensorflow", "tf_keras", "official") if m in sys.modules)
print(json.dumps({"clips": examples.metadata["clips"], "blessed": blessed, "registered": registered.metadata,
                  "baseline": baseline.metadata, "heavy": heavy}))
"""


def test_the_cpu_steps_run_in_the_pipeline_image_without_tensorflow(sample_dir, pipeline_run, tmp_path):
    completed = run_core_only(STEPS, REPO, str(sample_dir), str(pipeline_run["model"]),
                              str(pipeline_run["evaluation"]), str(tmp_path), timeout=900)
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    exported = list(layouts.read_manifest(tmp_path / "export" / "dataset"))
    assert result["clips"] == len(exported) > 0 and result["heavy"] == []
    assert result["blessed"] is True and result["registered"]["name"]
    assert result["baseline"]["reference"] == result["registered"]["folder"]  # the model this run just registered
    assert layouts.ModelFolder(tmp_path / "baseline" / "model").has_saved_model()
    assert (tmp_path / "registry").is_dir() and (tmp_path / "records" / "contact_sheet.html").stat().st_size > 0


def test_a_command_that_needs_tensorflow_says_how_to_get_it(tmp_path):
    code = ("import sys; from movinet_pipeline.app.cli import main; "
            "sys.exit(main(['train', '--examples', sys.argv[1], '--output', sys.argv[2]]))")
    completed = run_core_only(code, REPO, str(tmp_path), str(tmp_path / "trained"))
    assert completed.returncode == 2
    assert "needs TensorFlow (tensorflow is missing): pip install 'movinet-pipeline[train]'" in completed.stderr

"""KFP component: pick the best of a sweep's trained models by an evaluation metric."""

from typing import List

from kfp import dsl
from kfp.dsl import Artifact, Input, Markdown, Model, Output

from movinet_pipeline.core.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def select_best(models: Input[List[Model]], evaluations: Input[List[Artifact]], best_model: Output[Model],
                best_evaluation: Output[Artifact], summary: Output[Markdown],
                metric: str = "top1_accuracy") -> bool:
    """Pick the best of a sweep's models by an evaluation metric, blessed ones first.

    Args:
        models: The trained models, in loop order.
        evaluations: Their evaluations, in the same order.
        best_model: A copy of the winner.
        best_evaluation: A copy of its evaluation.
        summary: A Markdown table of every candidate.
        metric: A number in metrics.json, higher is better.

    Returns:
        Whether the winner is blessed (may be registered).
    """
    from movinet_pipeline.components.select_best.selection import select_best as run_selection
    from movinet_pipeline.core.step_runtime import begin_step

    begin_step("select_best")
    best, table = run_selection([m.path for m in models], [e.path for e in evaluations], metric, best_model.path,
                                best_evaluation.path)
    with open(summary.path, "w") as handle:
        handle.write(table)
    best_model.metadata.update({"model_id": best.model_id, metric: best.score})
    return best.blessed

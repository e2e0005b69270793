"""KFP component: evaluate a trained model, log KFP metrics and the confusion matrix, and gate it."""


from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from movinet_pipeline.core.images import TRAINER_IMAGE


@dsl.component(base_image=TRAINER_IMAGE, install_kfp_package=False)
def evaluate(model: Input[Model], examples: Input[Dataset], evaluation: Output[Artifact], metrics: Output[Metrics],
             confusion: Output[ClassificationMetrics], report: Output[HTML],
             baseline: Input[Model] | None = None) -> bool:
    """Score the model, compare it with the baseline on the same clips, and decide whether it may be registered.

    Args:
        model: The trained model folder.
        examples: The TFRecords it was trained on (evaluated on test, else validation).
        evaluation: metrics.json, verdict.json and report.html.
        metrics: Headline figures for the KFP UI.
        confusion: The confusion matrix for the KFP UI.
        report: The HTML report.
        baseline: The model serving now (resolve_baseline's output); the candidate must not fall behind it by more
            than min_improvement allows. Absent, or holding no model: the absolute thresholds only.

    Returns:
        Whether the model is blessed.
    """
    import shutil

    from movinet_pipeline.components.evaluate.evaluator import evaluate as run_evaluation
    from movinet_pipeline.core import layouts
    from movinet_pipeline.core.step_runtime import begin_step

    begin_step("evaluate")
    reference = layouts.read_baseline_reference(baseline.path) if baseline is not None else ""
    figures, verdict = run_evaluation(model.path, examples.path, evaluation.path,
                                      baseline_dir=baseline.path if reference else None, baseline_reference=reference)
    metrics.log_metric(f"{figures.subset}_top1_accuracy", figures.top1_accuracy)
    metrics.log_metric(f"{figures.subset}_top{figures.top_k}_accuracy", figures.top_k_accuracy)
    for per_class in figures.per_class:
        metrics.log_metric(f"f1_{per_class.label}", per_class.f1)
    if verdict["baseline"]:
        metrics.log_metric("baseline_top1_accuracy", verdict["baseline"]["top1_accuracy"])
        metrics.log_metric("top1_change_vs_baseline", verdict["baseline"]["change"])
    confusion.log_confusion_matrix(figures.labels, figures.confusion_matrix)
    shutil.copy(layouts.Evaluation(evaluation.path).report, report.path)
    evaluation.metadata.update(verdict)
    return verdict["blessed"]

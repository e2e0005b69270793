"""KFP component: evaluate a trained model, log KFP metrics and the confusion matrix, and gate it."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from movinet_pipeline.images import TRAINER_IMAGE


@dsl.component(base_image=TRAINER_IMAGE, install_kfp_package=False)
def evaluate(model: Input[Model], examples: Input[Dataset], dataset: Input[Dataset], evaluation: Output[Artifact],
             metrics: Output[Metrics], confusion: Output[ClassificationMetrics], report: Output[HTML],
             baseline: str = "", registry: str = "", dataloop_secret: str = "") -> bool:
    """Returns whether the model is blessed (may be registered). `baseline`: the model serving now (a model folder
    or dataloop://<model-id>; empty: the newest model registered in `registry` for the same dataset source as
    `dataset`; `none`: no baseline), scored on the same clips; the candidate must not fall behind it by more than
    `min_improvement` allows. `dataloop_secret`: Secret Manager secret with the credentials (Vertex AI)."""
    import shutil
    from pathlib import Path

    from components.evaluate.baseline import latest_registered
    from components.evaluate.evaluator import REPORT, evaluate as run_evaluation
    from movinet_pipeline.dataloop import use_credentials_secret
    from movinet_pipeline.logs import setup_logging

    setup_logging()
    use_credentials_secret(dataloop_secret)
    if not baseline:
        baseline = latest_registered(registry, dataset.path)
    figures, verdict = run_evaluation(model.path, examples.path, evaluation.path, baseline=baseline)
    metrics.log_metric(f"{figures.subset}_top1_accuracy", figures.top1_accuracy)
    metrics.log_metric(f"{figures.subset}_top{figures.top_k}_accuracy", figures.top_k_accuracy)
    for per_class in figures.per_class:
        metrics.log_metric(f"f1_{per_class.label}", per_class.f1)
    if verdict["baseline"]:
        metrics.log_metric("baseline_top1_accuracy", verdict["baseline"]["top1_accuracy"])
        metrics.log_metric("top1_change_vs_baseline", verdict["baseline"]["change"])
    confusion.log_confusion_matrix(figures.labels, figures.confusion_matrix)
    shutil.copy(Path(evaluation.path) / REPORT, report.path)
    evaluation.metadata.update(verdict)
    return verdict["blessed"]

"""The blessing gate: may the candidate be registered? Absolute thresholds, and the change against a baseline."""

from __future__ import annotations

from movinet_pipeline.components.evaluate.metrics import EvaluationFigures
from movinet_pipeline.core.config import PipelineConfig


def gate(figures: EvaluationFigures, config: PipelineConfig, baseline: EvaluationFigures | None = None,
         baseline_source: str = "") -> dict:
    """Decide whether the model may be registered, and say why.

    Bless a model that beats chance, reaches `min_accuracy` and, given a baseline scored on the same clips, changes
    top-1 by at least `min_improvement` against it (0: not worse; negative: a tolerated regression).
    """
    chance = 1.0 / len(figures.labels)
    threshold = max(config.min_accuracy, chance)
    absolute = figures.top1_accuracy > chance and figures.top1_accuracy >= config.min_accuracy
    reasons = [f"top-1 accuracy {figures.top1_accuracy:.3f} {'>' if absolute else '<='} required "
               f"(beat chance {chance:.3f}, reach min_accuracy {config.min_accuracy:.3f})"]
    comparison = None
    blessed = absolute
    if baseline is not None:
        change = figures.top1_accuracy - baseline.top1_accuracy
        improved = change >= config.min_improvement - 1e-9
        blessed = blessed and improved
        comparison = {"source": baseline_source, "top1_accuracy": baseline.top1_accuracy, "change": change,
                      "passed": bool(improved)}
        reasons.append(f"against baseline {baseline_source} ({baseline.top1_accuracy:.3f} on the same "
                       f"{baseline.clips} clips) top-1 changes by {change:+.3f}, "
                       f"{'meeting' if improved else 'short of'} min_improvement {config.min_improvement:+.3f}")
    return {"blessed": bool(blessed), "reason": "; ".join(reasons),
            "thresholds": {"min_accuracy": config.min_accuracy, "chance": chance, "required": threshold,
                           "min_improvement": config.min_improvement}, "baseline": comparison}

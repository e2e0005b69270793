"""Pipeline functions whose signature and docstring come from the parameter table (core.parameters).

KFP reads a pipeline's inputs from its function's signature and their descriptions from its Google-style `Args:`
docstring; `declared(parameters, summary)` builds both from the table, so every compiled parameter carries its
default and help and no pipeline writes the list again.
"""

from __future__ import annotations

import functools
import inspect
import textwrap
from collections.abc import Callable, Sequence
from types import SimpleNamespace

from movinet_pipeline.core.parameters import REQUIRED, Parameter


def _docstring(summary: str, parameters: Sequence[Parameter]) -> str:
    lines = [summary, "", "Args:"]
    for parameter in parameters:
        lines += textwrap.wrap(f"{parameter.name}: {parameter.help}", width=112, initial_indent="    ",
                               subsequent_indent="        ")
    return "\n".join(lines)


def declared(parameters: Sequence[Parameter], summary: str) -> Callable[[Callable], Callable]:
    """Decorate `steps(p)`, which reads the run's parameters as attributes of `p`, into a pipeline function."""

    def decorate(steps: Callable[[SimpleNamespace], None]) -> Callable:
        names = [p.name for p in parameters]

        @functools.wraps(steps)
        def pipeline_function(*args, **kwargs):  # KFP calls with every parameter, positionally, in declared order
            return steps(SimpleNamespace(**dict(zip(names, args)), **kwargs))

        pipeline_function.__signature__ = inspect.Signature([
            inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=p.type,
                              default=inspect.Parameter.empty if p.default is REQUIRED else p.default)
            for p in parameters])
        pipeline_function.__doc__ = _docstring(summary, parameters)
        return pipeline_function

    return decorate

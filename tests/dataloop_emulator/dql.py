"""The subset of Dataloop's query language (DQL, Mongo-like) that dtlpy's Filters produce: $and/$or, equality,
$eq/$ne/$gt/$gte/$lt/$lte/$in/$nin/$exists/$glob on dotted fields, sort, and page/pageSize.
"""

from __future__ import annotations

import fnmatch
import math
from typing import Any

_MISSING = object()


def field_value(document: dict, path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _compare(value: Any, operator: str, operand: Any) -> bool:
    if operator == "$exists":
        return (value is not _MISSING) == bool(operand)
    if value is _MISSING:
        return operator in ("$ne", "$nin")
    if operator == "$eq":
        return _equals(value, operand)
    if operator == "$ne":
        return not _equals(value, operand)
    if operator == "$in":
        return any(_equals(value, option) for option in operand)
    if operator == "$nin":
        return not any(_equals(value, option) for option in operand)
    if operator == "$glob":
        return isinstance(value, str) and fnmatch.fnmatchcase(value, operand)
    try:
        return {"$gt": value > operand, "$gte": value >= operand,
                "$lt": value < operand, "$lte": value <= operand}[operator]
    except KeyError:
        raise ValueError(f"unsupported DQL operator {operator!r}") from None
    except TypeError:
        return False


def _equals(value: Any, operand: Any) -> bool:
    if isinstance(value, list) and not isinstance(operand, list):
        return operand in value
    if isinstance(operand, str) and "*" in operand and isinstance(value, str):
        return fnmatch.fnmatchcase(value, operand)  # the gate reads '*' in a value as a glob
    return value == operand


def matches(document: dict, query: dict | None) -> bool:
    for key, condition in (query or {}).items():
        if key == "$and":
            if not all(matches(document, sub) for sub in condition):
                return False
        elif key == "$or":
            if not any(matches(document, sub) for sub in condition):
                return False
        elif isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
            value = field_value(document, key)
            if not all(_compare(value, op, operand) for op, operand in condition.items()):
                return False
        else:
            value = field_value(document, key)
            if value is _MISSING or not _equals(value, condition):
                return False
    return True


def run_query(documents: list[dict], request: dict) -> dict:
    """Answer a `.../query` request the way the gate pages it."""
    selected = [doc for doc in documents if matches(doc, request.get("filter"))]
    for field, direction in reversed(list((request.get("sort") or {"id": "ascending"}).items())):
        selected.sort(key=lambda doc: str(field_value(doc, field)), reverse=direction.startswith("desc"))
    page_size = int(request.get("pageSize", 1000))
    page = int(request.get("page", 0))
    total = len(selected)
    window = selected[page * page_size:(page + 1) * page_size] if page_size else []
    return {
        "items": window,
        "totalItemsCount": total,
        "totalPagesCount": math.ceil(total / page_size) if page_size else 0,
        "page_offset": page,
        "hasNextPage": bool(page_size) and (page + 1) * page_size < total,
    }

"""Validate CloudWatch EMF documents: the JSON schema (tests/unit/emf_schema.json) and the
rules a schema cannot state (every referenced dimension and metric is a root member, with a
value of the allowed shape)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = json.loads((Path(__file__).parent / "unit" / "emf_schema.json").read_text())


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def emf_problems(doc: dict[str, Any]) -> list[str]:
    """What is wrong with one EMF document (empty: valid)."""
    problems = [e.message for e in jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc)]
    if problems:
        return problems
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:
                value = doc.get(name)
                if not isinstance(value, str) or not 0 < len(value) <= 1024:
                    problems.append(f"dimension {name!r}: {value!r} is not a string member")
        for metric in directive["Metrics"]:
            value = doc.get(metric["Name"])
            if _number(value):
                continue
            if isinstance(value, list) and 0 < len(value) <= 100 and all(map(_number, value)):
                continue
            if isinstance(value, dict):
                values, counts = value.get("Values"), value.get("Counts")
                if (
                    isinstance(values, list)
                    and isinstance(counts, list)
                    and 0 < len(values) == len(counts) <= 100
                    and all(map(_number, values + counts))
                    and all(c > 0 for c in counts)
                    and all(_number(value.get(k)) for k in ("Min", "Max", "Sum", "Count"))
                    and value["Count"] == sum(counts)
                    and value["Min"] <= min(values) <= max(values) <= value["Max"]
                ):
                    continue
            problems.append(f"metric {metric['Name']!r}: {value!r} is not a valid value")
    return problems

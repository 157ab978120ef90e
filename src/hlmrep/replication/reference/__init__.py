"""Reference numbers to replicate, with their provenance, and the tolerance rule.

The YAML files beside this module are copies of the project's shared reference files
(see README.md here): ``seed_lme4.yaml`` transcribes every number printed in the course
vignette (R, lme4), ``textbook_ch4.yaml`` holds Raudenbush & Bryk (2002), chapter 4.
A user who holds the book may correct a value in place; everything downstream reads it
from here.
"""

from __future__ import annotations

import functools
import math
from importlib import resources
from typing import Any

from hlmrep.files import parse_yaml


@functools.cache
def load(name: str) -> dict[str, Any]:
    """``load("seed_lme4")`` or ``load("textbook_ch4")``: the parsed reference file."""
    text = (resources.files(__name__) / f"{name}.yaml").read_text()
    return _null_keys_as_text(parse_yaml(text))


def _null_keys_as_text(node: Any) -> Any:
    """YAML reads a key spelled ``null`` (the null model of an LRT) as None; keep it "null"."""
    if isinstance(node, dict):
        return {("null" if k is None else k): _null_keys_as_text(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_null_keys_as_text(v) for v in node]
    return node


def rounding_tolerance(digits: int) -> float:
    """A number printed with d decimals matches when it rounds to the same value.

    |ours − ref| ≤ 0.5·10^−d (+1e-9 for the floating-point representation of ref).
    """
    return 0.5 * 10.0 ** (-digits) + 1e-9


def matches(ours: float, reference: float, digits: int, tol: float | None = None) -> bool:
    """The shared tolerance rule: an explicit ``tol`` wins, else the rounding rule."""
    limit = tol if tol is not None else rounding_tolerance(digits)
    return math.isfinite(ours) and abs(ours - reference) <= limit

"""A fit restored from its record, as MixedModels.jl's ``restoreoptsum!`` restores one.

A fit record (:meth:`LmmResult.to_dict`, the fit files under ``results/fits``) stores θ̂ and
the criterion there.  Restoring rebuilds the model's specification (formula, covariance
structure, REML or ML, factor codings: :func:`~hlmrep.engine.specification.from_record`)
and its design from the data and evaluates the model at the stored θ̂ (one penalized
least-squares solve, no optimizer), then
checks that the criterion there is the stored one: a record that does not belong to these
data and this formula is refused instead of silently giving other numbers.  β̂, σ̂², the
conditional modes and everything else follow from θ̂, as they did in the original fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hlmrep.engine.control import DEFAULT_CONTROL, Control
from hlmrep.engine.deviance import cross_products, solve_at
from hlmrep.engine.model import LmmResult
from hlmrep.engine.optimizer_runs import OptimumReport
from hlmrep.engine.specification import from_record
from hlmrep.errors import ModelSpecificationError


def criterion_of(record: Mapping[str, Any]) -> float:
    """The criterion a fit record holds: REML criterion (REML) or deviance (ML), as lme4."""
    return float(record["reml_criterion"] if record["estimation"] == "REML" else record["deviance"])


def restore(
    record: Mapping[str, Any], data: pd.DataFrame, control: Control = DEFAULT_CONTROL
) -> LmmResult:
    """The fit a record describes, on ``data``, with its optimizer report; checked."""
    optimum = OptimumReport.from_dict(record["optimizer"])
    specification = from_record(record)
    design = specification.design(data)
    reml = specification.reml
    cp = cross_products(design.X, design.Z, design.y, design.group_index, len(design.group_levels))
    solution = solve_at(np.array(optimum.theta, dtype=float), cp, reml)
    stored = criterion_of(record)
    if not math.isclose(solution.criterion, stored, rel_tol=control.restore_rtol, abs_tol=0.0):
        raise ModelSpecificationError(
            f"fit record {record.get('name', record['formula'])!r} does not belong to these "
            f"data: at its θ the {record['criterion_name']} is {solution.criterion!r}, the "
            f"record says {stored!r}; refit it (the data or the formula changed)"
        )
    return LmmResult(
        specification=specification,
        design=design,
        solution=solution,
        optimum=optimum,
        control=control,
    )

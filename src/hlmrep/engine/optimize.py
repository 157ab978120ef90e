"""Minimize the profiled deviance over θ and verify that the answer is the optimum.

A fit reads as lme4's chain ``lFormula → mkLmerDevfun → optimizeLmer → checkConv``: the
formula (:mod:`~hlmrep.engine.formula`), its design (:mod:`~hlmrep.engine.design`), the
deviance function (:mod:`~hlmrep.engine.deviance`), the search from several starts
(:func:`~hlmrep.engine.optimizers.search`) and the check of its best point
(:func:`~hlmrep.engine.optimality.check`).  :func:`find_optimum` is the last two:
``check(search(...))``, a report of every run and of the evidence
(:class:`~hlmrep.engine.optimizer_runs.OptimumReport`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hlmrep.engine.control import DEFAULT_CONTROL, Control
from hlmrep.engine.optimality import check
from hlmrep.engine.optimizer_runs import OptimumReport
from hlmrep.engine.optimizers import BatchObjective, Objective, search


def find_optimum(
    objective: Objective,
    start: np.ndarray,
    lower: np.ndarray,
    diagonal: np.ndarray,
    batch_objective: BatchObjective | None = None,
    canonical: Callable[[np.ndarray], np.ndarray] | None = None,
    control: Control = DEFAULT_CONTROL,
    scale: np.ndarray | None = None,
) -> OptimumReport:
    """Minimize ``objective`` over θ ≥ lower from several starts and verify the optimum:
    :func:`~hlmrep.engine.optimizers.search` (its arguments, and ``scale``'s internal
    coordinates) and :func:`~hlmrep.engine.optimality.check` of its best point."""
    found = search(objective, start, lower, diagonal, batch_objective, canonical, control, scale)
    return check(found, lower, control)

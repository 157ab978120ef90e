"""The optimizers, run from several starts: where the search for the optimum goes.

An optimizer stopping is not evidence of an optimum.  On the HSB random-coefficients
model a quasi-Newton or simplex method started at lme4's default T = I stops on the
boundary θ₃ = 0: the deviance is even in θ₃, so the gradient vanishes there, yet the point
is a saddle, about 9.7 units of deviance above the optimum (that is how statsmodels'
MixedLM ends far from lme4).  So :func:`search`

1. runs BOBYQA (NLopt's, the algorithm behind lme4's default ``nloptwrap``) from lme4's
   start and from a second start, and L-BFGS-B (scipy) from lme4's start, as lme4's
   ``allFit`` does by hand;
2. keeps the best, then probes each bound θ-diagonal element by stepping into the
   interior, restarts from any point that is lower (escapes boundary saddles), and
   polishes the best point;

and records every run (:mod:`~hlmrep.engine.optimizer_runs`), so that disagreement is
reported, not hidden.  Whether the best point is the optimum is
:mod:`~hlmrep.engine.optimality`'s to say.  Every tolerance comes from
:class:`hlmrep.engine.control.Control`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import nlopt
import numpy as np

from hlmrep.engine.control import DEFAULT_CONTROL, Control
from hlmrep.engine.optimizer_runs import (
    DEFAULT_START,
    LME4_OPTIMIZER,
    OptimizerRun,
    RunStatus,
)

Objective = Callable[[np.ndarray], float]
BatchObjective = Callable[[np.ndarray], np.ndarray]

#: NLopt's result codes.
_NLOPT_STATUS = {
    1: RunStatus.SUCCESS,
    2: RunStatus.STOPVAL,
    3: RunStatus.FTOL,
    4: RunStatus.XTOL,
    5: RunStatus.MAXEVAL,
    6: RunStatus.MAXTIME,
}


class CountedObjective:
    """The objective, single and batched, counting every θ at which it is evaluated."""

    def __init__(self, objective: Objective, batch: BatchObjective | None) -> None:
        self.objective = objective
        self.batch_objective = batch
        self.count = 0

    def __call__(self, theta: np.ndarray) -> float:
        self.count += 1
        return self.objective(np.asarray(theta, dtype=float))

    def batch(self, thetas: np.ndarray) -> np.ndarray:
        self.count += len(thetas)
        if self.batch_objective is None:
            return np.array([self.objective(t) for t in thetas])
        return np.asarray(self.batch_objective(thetas), dtype=float)


def bobyqa(
    f: CountedObjective,
    start: np.ndarray,
    lower: np.ndarray,
    tolerance: float,
    initial_step: float | None = None,
    maxeval: int = DEFAULT_CONTROL.maxeval,
    xtol: float | None = None,
) -> tuple[np.ndarray, RunStatus]:
    """NLopt's BOBYQA with absolute tolerances on the criterion and θ (``xtol``, by default
    the same)."""
    opt = nlopt.opt(nlopt.LN_BOBYQA, len(start))
    opt.set_lower_bounds(lower)
    best_value, best_x = math.inf, np.maximum(start, lower)

    def objective(x: np.ndarray, grad: np.ndarray) -> float:
        nonlocal best_value, best_x
        value = f(x)
        if value < best_value:
            best_value, best_x = value, np.array(x)
        return value

    opt.set_min_objective(objective)
    opt.set_ftol_abs(tolerance)
    opt.set_xtol_abs(tolerance if xtol is None else xtol)
    opt.set_maxeval(maxeval)
    if initial_step is not None:
        opt.set_initial_step(initial_step)
    try:
        # Bound-sitting starts are legal for BOBYQA; clip rounding below the bounds.
        x = opt.optimize(np.maximum(start, lower))
    except nlopt.RoundoffLimited:
        # Stopped by rounding near a flat optimum: the best point evaluated is the answer.
        return np.asarray(best_x), RunStatus.ROUNDOFF
    return np.asarray(x), _NLOPT_STATUS.get(opt.last_optimize_result(), RunStatus.FAILED)


def central_difference_points(theta: np.ndarray, h: np.ndarray) -> np.ndarray:
    """θ, then θ + h_i e_i and θ − h_i e_i for every i: 2k + 1 points."""
    k = len(theta)
    steps = np.diag(h)
    return np.vstack([theta[None, :], theta + steps, theta - steps]) if k else theta[None, :]


def _lbfgsb(
    f: CountedObjective, start: np.ndarray, lower: np.ndarray, control: Control
) -> tuple[np.ndarray, RunStatus, str]:
    """L-BFGS-B on the unbounded θ, gradient by central differences in one batched call.

    No bounds on purpose: clipped at θ_ii = 0, a gradient method stops on the boundary
    saddle where the deviance is even in θ_ii (model3's zero slope variance, 9.7 above the
    optimum).  Unbounded, it passes through; a negative diagonal is the same covariance
    and is mapped back by the caller's ``canonical``.
    """
    from scipy import optimize as sciopt  # here: only this check run needs it (import time)

    k = len(start)

    def value_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        h = control.lbfgsb_gradient_step * np.maximum(1.0, np.abs(theta))
        values = f.batch(central_difference_points(theta, h))
        gradient = (values[1 : k + 1] - values[k + 1 :]) / (2.0 * h)
        if not np.all(np.isfinite(gradient)):
            gradient = np.nan_to_num(gradient, nan=0.0, posinf=0.0, neginf=0.0)
        return float(values[0]), gradient

    result = sciopt.minimize(
        value_and_gradient,
        start,
        jac=True,
        method="L-BFGS-B",
        # A check run: the best point is polished and verified afterwards.
        options={
            "ftol": control.lbfgsb_ftol,
            "gtol": control.lbfgsb_gtol,
            "maxiter": control.lbfgsb_maxiter,
        },
    )
    status = RunStatus.CONVERGED if result.success else RunStatus.NOT_CONVERGED
    return np.asarray(result.x), status, str(result.message)


def _second_start(start: np.ndarray, diagonal: np.ndarray) -> np.ndarray:
    """A start away from T = I: small variances and a positive correlation."""
    second = np.where(diagonal, 0.25, 0.1)
    return second if len(start) > 1 else np.array([0.25])


def _probe_boundary(
    f: CountedObjective, theta: np.ndarray, value: float, diagonal: np.ndarray, control: Control
) -> tuple[np.ndarray | None, str]:
    """Step bound diagonal elements into the interior; return the lowest point if lower."""
    bound = np.flatnonzero(diagonal & (theta <= control.bound_tol))
    if len(bound) == 0:
        return None, "no element of θ on its bound"
    steps = control.probe_steps
    candidates = []
    for index in bound:
        for step in steps:
            candidate = theta.copy()
            candidate[index] = step
            candidates.append(candidate)
    values = f.batch(np.array(candidates))
    lowest = int(np.argmin(values))
    if values[lowest] < value - control.runs_agree_tol:
        index = bound[lowest // len(steps)]
        step = steps[lowest % len(steps)]
        return np.array(candidates[lowest]), (
            f"θ[{index}] = 0 is not optimal: θ[{index}] = {step} is lower; restarted there"
        )
    return None, (
        f"boundary optimum: {len(candidates)} steps into the interior all raised the criterion"
    )


@dataclass
class Search:
    """Where the optimizers ended: every run, and the best point in the internal
    coordinates φ = θ·scale (see :func:`search`), with the counted objective there."""

    objective: CountedObjective
    runs: list[OptimizerRun]
    phi: np.ndarray
    criterion: float
    probe_notes: list[str]
    scale: np.ndarray

    def external(self, phi: np.ndarray) -> np.ndarray:
        """lme4's θ of a point in the internal coordinates."""
        return np.asarray(phi, dtype=float) / self.scale


def search(
    objective: Objective,
    start: np.ndarray,
    lower: np.ndarray,
    diagonal: np.ndarray,
    batch_objective: BatchObjective | None = None,
    canonical: Callable[[np.ndarray], np.ndarray] | None = None,
    control: Control = DEFAULT_CONTROL,
    scale: np.ndarray | None = None,
) -> Search:
    """Minimize ``objective`` over θ ≥ lower from several starts (see the module).

    ``batch_objective`` (θ values as rows → criteria) evaluates many points at once; it is
    used for finite differences and probes, and is optional.  ``canonical`` maps a θ
    found without bounds to the equivalent θ within them (see :func:`_lbfgsb`).

    ``scale`` makes the search and the check invariant to the units of the random-effect
    covariates.  The objective, ``lower``, ``canonical`` and ``diagonal`` are then given in
    internal coordinates φ = θ·scale (θ of columns divided by their scale, see
    :func:`hlmrep.engine.model.column_scales`), where a unit step means the same on every
    scale; ``start`` and the runs' θ are lme4's θ.  lme4's default run alone works on θ
    itself, as lme4 does, so that it still stops where plain ``lmer`` stops.
    """
    scale = np.ones(len(start)) if scale is None else np.asarray(scale, dtype=float)
    f = CountedObjective(objective, batch_objective)
    runs: list[OptimizerRun] = []

    def external(phi: np.ndarray) -> np.ndarray:
        return np.asarray(phi, dtype=float) / scale

    def record(
        optimizer: str,
        start_name: str,
        start_theta: np.ndarray,
        run: Callable[[], tuple[np.ndarray, RunStatus, str]],
    ) -> tuple[np.ndarray, float]:
        """Run one optimizer, keep its report in ``runs``, return where it ended."""
        before = f.count
        try:
            theta, _, message = run()
            if canonical is not None:
                theta = canonical(theta)
            value = f(theta)
        except (nlopt.RoundoffLimited, ValueError, RuntimeError) as error:
            theta, value, message = start_theta, float("inf"), f"{RunStatus.FAILED.value}: {error}"
        runs.append(
            OptimizerRun(
                optimizer,
                start_name,
                [float(v) for v in external(theta)],
                float(value),
                f.count - before,
                message,
            )
        )
        return theta, value

    def run_bobyqa(
        start_theta: np.ndarray,
        tolerance: float,
        initial_step: float | None = None,
        xtol: float | None = None,
    ) -> tuple[np.ndarray, RunStatus, str]:
        theta, status = bobyqa(
            f, start_theta.copy(), lower, tolerance, initial_step, control.maxeval, xtol
        )
        return theta, status, status.value

    def run_lme4_default() -> tuple[np.ndarray, RunStatus, str]:
        """BOBYQA on lme4's own θ from T = I, as lme4 runs it; the end point in φ."""
        on_theta = CountedObjective(lambda theta: f(theta * scale), None)
        theta, status = bobyqa(
            on_theta,
            start.copy(),
            lower / scale,
            control.ftol_abs,
            None,
            control.maxeval,
            control.xtol_abs,
        )
        return theta * scale, status, status.value

    # lme4's default nloptwrap first (so the engine also says where plain lmer stops: the
    # point the vignette prints, even where it is not the optimum), then the check runs,
    # from starts in the internal coordinates (T = I there is unit-scale variances).
    record(LME4_OPTIMIZER, DEFAULT_START, start * scale, run_lme4_default)
    start = np.where(diagonal, 1.0, 0.0)
    second = _second_start(start, diagonal)
    record("bobyqa", "small variances", second, lambda: run_bobyqa(second, control.check_run_tol))
    record("lbfgsb", DEFAULT_START, start, lambda: _lbfgsb(f, start.copy(), lower, control))

    best = min(runs, key=lambda run: run.criterion)
    theta, value = np.array(best.theta) * scale, best.criterion
    probe_notes: list[str] = []
    for _ in range(len(theta) + 1):  # each restart frees at least one bound element
        candidate, note = _probe_boundary(f, theta, value, diagonal, control)
        probe_notes.append(note)
        if candidate is None:
            break
        theta_new, value_new = record(
            "bobyqa",
            "boundary probe",
            candidate,
            functools.partial(run_bobyqa, candidate, control.check_run_tol),
        )
        if value_new < value:
            theta, value = theta_new, value_new

    # Polish the best point with tight tolerances and a small trust region (it is already
    # near the optimum); keep the result only if it is lower.
    theta_polished, value_polished = record(
        "bobyqa",
        "best point (polish)",
        theta,
        functools.partial(run_bobyqa, theta, control.check_run_tol, control.polish_initial_step),
    )
    if value_polished < value:
        theta, value = theta_polished, value_polished

    return Search(f, runs, theta, float(value), probe_notes, scale)

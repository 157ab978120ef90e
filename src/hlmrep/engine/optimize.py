"""Minimize the profiled deviance over θ and verify that the answer is the optimum.

An optimizer stopping is not evidence of an optimum.  On the HSB random-coefficients
model a quasi-Newton or simplex method started at lme4's default T = I stops on the
boundary θ₃ = 0: the deviance is even in θ₃, so the gradient vanishes there, yet the
point is a saddle, about 9.7 units of deviance above the optimum (that is how
statsmodels' MixedLM ends far from lme4).  So every fit here

1. runs BOBYQA (NLopt's, the algorithm behind lme4's default ``nloptwrap``) from lme4's
   start and from a second start, and L-BFGS-B (scipy) from lme4's start, as lme4's
   ``allFit`` does by hand;
2. keeps the best, then probes each bound θ-diagonal element by stepping into the
   interior, and restarts from any point that is lower (escapes boundary saddles);
3. verifies the first- and second-order optimality (KKT) conditions at the best point
   with finite differences, the gradient by lme4's scale-aware ``check.conv.grad`` rule,
   and records every run, so disagreement is reported, not hidden.

Every tolerance comes from :class:`hlmrep.engine.control.Control`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import nlopt
import numpy as np

from hlmrep.engine import kernel
from hlmrep.engine.control import DEFAULT_CONTROL, Control
from hlmrep.errors import ModelSpecificationError

Objective = Callable[[np.ndarray], float]
BatchObjective = Callable[[np.ndarray], np.ndarray]

#: Name of the run that copies lme4's default optimizer settings.
LME4_OPTIMIZER = "bobyqa (lme4 nloptwrap settings)"
#: Name of lme4's default start, T = I.
DEFAULT_START = "lme4 default (T = I)"


class RunStatus(Enum):
    """How an optimizer run ended; its value is the text the run's record shows."""

    SUCCESS = "success"
    STOPVAL = "stopval reached"
    FTOL = "ftol reached"
    XTOL = "xtol reached"
    MAXEVAL = "maxeval reached"
    MAXTIME = "maxtime reached"
    ROUNDOFF = "roundoff limited (best point evaluated kept)"
    CONVERGED = "converged"  # a gradient method's own convergence test
    NOT_CONVERGED = "not converged"
    NEWTON = "newton"
    FAILED = "failed"

    @property
    def converged(self) -> bool:
        """The optimizer stopped by its convergence test (not by a limit or rounding)."""
        return self in _CONVERGED


_CONVERGED = {
    RunStatus.SUCCESS,
    RunStatus.STOPVAL,
    RunStatus.FTOL,
    RunStatus.XTOL,
    RunStatus.CONVERGED,
    RunStatus.NEWTON,
}
#: NLopt's result codes.
_NLOPT_STATUS = {
    1: RunStatus.SUCCESS,
    2: RunStatus.STOPVAL,
    3: RunStatus.FTOL,
    4: RunStatus.XTOL,
    5: RunStatus.MAXEVAL,
    6: RunStatus.MAXTIME,
}


@dataclass
class OptimizerRun:
    """One optimizer run from one start."""

    optimizer: str
    start: str
    theta: list[float]
    criterion: float
    evaluations: int
    message: str

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class OptimumReport:
    """Where the optimizers ended and the evidence that the best point is the optimum."""

    theta: np.ndarray
    criterion: float
    runs: list[OptimizerRun]
    evaluations: int
    projected_gradient: list[float]
    max_abs_projected_gradient: float
    max_scaled_gradient: float
    predicted_decrease: float | None
    hessian_min_eigenvalue: float | None
    at_bound: list[bool]
    boundary_probe: str
    verified: bool
    runs_agree: bool
    messages: list[str] = field(default_factory=list)
    check_conv_grad: float = DEFAULT_CONTROL.check_conv_grad

    def to_dict(self) -> dict[str, object]:
        return {
            "theta": [float(v) for v in self.theta],
            "criterion": self.criterion,
            "verified": self.verified,
            "runs_agree": self.runs_agree,
            "evaluations": self.evaluations,
            "projected_gradient": self.projected_gradient,
            "max_abs_projected_gradient": self.max_abs_projected_gradient,
            "max_scaled_gradient": self.max_scaled_gradient,
            "check_conv_grad_tolerance": self.check_conv_grad,
            "predicted_decrease": self.predicted_decrease,
            "hessian_min_eigenvalue": self.hessian_min_eigenvalue,
            "at_bound": self.at_bound,
            "boundary_probe": self.boundary_probe,
            "messages": self.messages,
            "runs": [run.to_dict() for run in self.runs],
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> OptimumReport:
        """The report as a fit record stores it (:meth:`to_dict`), for a restored fit."""
        return cls(
            theta=np.array(record["theta"], dtype=float),
            criterion=float(record["criterion"]),
            runs=[OptimizerRun(**run) for run in record["runs"]],
            evaluations=int(record["evaluations"]),
            projected_gradient=list(record["projected_gradient"]),
            max_abs_projected_gradient=float(record["max_abs_projected_gradient"]),
            max_scaled_gradient=float(record["max_scaled_gradient"]),
            predicted_decrease=record.get("predicted_decrease"),
            hessian_min_eigenvalue=record["hessian_min_eigenvalue"],
            at_bound=list(record["at_bound"]),
            boundary_probe=record["boundary_probe"],
            verified=bool(record["verified"]),
            runs_agree=bool(record["runs_agree"]),
            messages=list(record["messages"]),
            check_conv_grad=float(record["check_conv_grad_tolerance"]),
        )


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


def _central_difference_points(theta: np.ndarray, h: np.ndarray) -> np.ndarray:
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
        values = f.batch(_central_difference_points(theta, h))
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


def projected_gradient(
    f: CountedObjective,
    theta: np.ndarray,
    lower: np.ndarray,
    value: float,
    control: Control = DEFAULT_CONTROL,
) -> tuple[np.ndarray, np.ndarray]:
    """Central differences inside, forward differences at a bound (KKT: g ≥ 0 there)."""
    k = len(theta)
    at_bound = np.isfinite(lower) & (theta - lower <= control.bound_tol)
    h = control.gradient_step * np.maximum(1.0, np.abs(theta))
    values = f.batch(_central_difference_points(theta, h)[1:])
    up, down = values[:k], values[k:]
    gradient = np.where(at_bound, (up - value) / h, (up - down) / (2.0 * h))
    projected = np.where(at_bound, np.minimum(gradient, 0.0), gradient)
    return projected, at_bound


def free_hessian(
    f: CountedObjective,
    theta: np.ndarray,
    free: np.ndarray,
    value: float,
    control: Control = DEFAULT_CONTROL,
) -> np.ndarray | None:
    """The finite-difference Hessian over the free coordinates of θ (one batch)."""
    index = np.flatnonzero(free)
    if len(index) == 0:
        return None
    k = len(index)
    h = control.hessian_step * np.maximum(1.0, np.abs(theta[index]))
    points, slots = [], []
    for a in range(k):
        for b in range(a, k):
            signs = [(1, 0), (-1, 0)] if a == b else [(1, 1), (1, -1), (-1, 1), (-1, -1)]
            for sa, sb in signs:
                x = theta.copy()
                x[index[a]] += sa * h[a]
                if a != b:
                    x[index[b]] += sb * h[b]
                points.append(x)
            slots.append((a, b, len(signs)))
    values = f.batch(np.array(points))
    H = np.empty((k, k))
    position = 0
    for a, b, count in slots:
        v = values[position : position + count]
        position += count
        if a == b:
            H[a, a] = (v[0] - 2.0 * value + v[1]) / h[a] ** 2
        else:
            H[a, b] = H[b, a] = (v[0] - v[1] - v[2] + v[3]) / (4.0 * h[a] * h[b])
    return H


def central_hessian(f: Objective, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The Hessian of ``f`` at ``x`` by central differences with steps ``h``, one point at a
    time (for small parameter vectors: the profile's SEs, Satterthwaite's covariance)."""
    m = len(x)
    H = np.empty((m, m))
    f0 = f(x)
    for a in range(m):
        for b in range(a, m):
            if a == b:
                up, down = x.copy(), x.copy()
                up[a] += h[a]
                down[a] -= h[a]
                H[a, a] = (f(up) - 2 * f0 + f(down)) / h[a] ** 2
            else:
                values = []
                for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                    point = x.copy()
                    point[a] += sa * h[a]
                    point[b] += sb * h[b]
                    values.append(f(point))
                H[a, b] = H[b, a] = (values[0] - values[1] - values[2] + values[3]) / (
                    4 * h[a] * h[b]
                )
    return H


def scaled_gradient_measure(
    gradient: np.ndarray, at_bound: np.ndarray, hessian_free: np.ndarray | None
) -> float:
    """lme4's convergence measure: max over θ of min(|scaled gradient|, |gradient|).

    The scaled gradient is ``solve(chol(H), g)`` over the free elements (lme4's
    ``checkConv``); an element on its bound contributes its projected gradient, which is 0
    when the criterion rises into the interior (KKT).  +inf where H is not positive definite.
    """
    if len(gradient) == 0:
        return 0.0
    gradient = np.asarray(gradient, dtype=float)
    measure = np.abs(gradient)
    free = ~np.asarray(at_bound, dtype=bool)
    if free.any():
        if hessian_free is None:
            return math.inf
        scaled, positive = kernel.lme4_scaled_gradient(
            np.ascontiguousarray(hessian_free, dtype=np.float64),
            np.ascontiguousarray(gradient[free]),
        )
        if not positive:
            return math.inf
        measure[free] = np.minimum(np.abs(scaled), measure[free])
    return float(measure.max())


def newton_decrease(
    gradient: np.ndarray,
    at_bound: np.ndarray,
    hessian_free: np.ndarray | None,
    control: Control = DEFAULT_CONTROL,
) -> float:
    """How much a Newton step over the free θ would still lower the criterion: ½ g'H⁻¹g.

    Unlike a gradient, this is the same number in any coordinates of θ (g → Dg, H → DHD
    leave g'H⁻¹g unchanged), so it says how far the criterion is from its minimum whatever
    the units of the covariates: in criterion units, to second order.  Along a direction
    where the criterion is flat (an eigenvalue below ``check_conv_hess`` times the largest:
    a variance the data do not identify) there is nothing to gain if the slope there is
    nil, and no bound on the gain if it is not.  0 with no free θ.
    """
    free = ~np.asarray(at_bound, dtype=bool)
    if not free.any():
        return 0.0
    if hessian_free is None:
        return math.inf
    g = np.asarray(gradient, dtype=float)[free]
    eigenvalues, vectors = np.linalg.eigh(hessian_free)
    slopes = vectors.T @ g
    flat = eigenvalues <= control.check_conv_hess * max(float(eigenvalues.max()), 1.0)
    if np.any(np.abs(slopes[flat]) > control.check_conv_grad):
        return math.inf
    curved = ~flat
    return float(0.5 * np.sum(slopes[curved] ** 2 / eigenvalues[curved]))


def _degenerate(eigenvalues: np.ndarray, control: Control) -> bool:
    """A Hessian whose smallest eigenvalue is negligible beside its largest: a flat ridge."""
    return bool(
        float(eigenvalues.min()) <= control.check_conv_hess * max(float(eigenvalues.max()), 1.0)
    )


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
    """Minimize ``objective`` over θ ≥ lower from several starts and verify the optimum.

    ``batch_objective`` (θ values as rows → criteria) evaluates many points at once; it is
    used for finite differences and probes, and is optional.  ``canonical`` maps a θ
    found without bounds to the equivalent θ within them (see :func:`_lbfgsb`).

    ``scale`` makes the search and the check invariant to the units of the random-effect
    covariates.  The objective, ``lower``, ``canonical`` and ``diagonal`` are then given in
    internal coordinates φ = θ·scale (θ of columns divided by their scale, see
    :func:`hlmrep.engine.model.column_scales`), where a unit step means the same on every
    scale; ``start`` and the reported θ (the runs' and the optimum's) are lme4's θ.  lme4's
    default run alone works on θ itself, as lme4 does, so that it still stops where plain
    ``lmer`` stops.
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
    messages: list[str] = []
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

    finite = [run.criterion for run in runs if np.isfinite(run.criterion)]
    if not finite:
        raise ModelSpecificationError(
            "no optimizer run reached a finite criterion: the data overflow or underflow "
            "double precision; rescale the response and covariates and refit"
        )
    worst_gap = max(finite) - value
    failed = [run for run in runs if not np.isfinite(run.criterion)]
    runs_agree = worst_gap <= control.runs_agree_tol and not failed
    for run in runs:
        gap = run.criterion - value
        if gap > control.runs_agree_tol:
            messages.append(
                f"{run.optimizer} from {run.start} stopped at {run.criterion:.4f}, "
                f"{gap:.4f} above the best ({run.message})"
            )

    gradient, at_bound = projected_gradient(f, theta, lower, value, control)
    hessian = free_hessian(f, theta, ~at_bound, value, control)
    eigenvalues = None if hessian is None else np.linalg.eigvalsh(hessian)
    hess_min = None if eigenvalues is None else float(eigenvalues.min())
    max_grad = float(np.max(np.abs(gradient))) if len(gradient) else 0.0
    # Finite-difference noise allows tiny negative eigenvalues along flat directions; a
    # saddle shows a clearly negative one.
    curvature_ok = eigenvalues is None or float(
        eigenvalues.min()
    ) > -control.hessian_negative_tol * max(1.0, float(eigenvalues.max()))
    scaled = scaled_gradient_measure(gradient, at_bound, hessian) if curvature_ok else math.inf
    decrease = newton_decrease(gradient, at_bound, hessian, control) if curvature_ok else math.inf
    verified = (
        scaled <= control.check_conv_grad
        and decrease <= control.check_conv_decrease
        and curvature_ok
    )
    if not verified:
        messages.append(
            f"optimum NOT verified: max min(|scaled gradient|, |gradient|) = {scaled:.3g} "
            f"(lme4's check.conv.grad accepts {control.check_conv_grad:g}), a Newton step "
            f"would lower the criterion by {decrease:.3g} (accepted: "
            f"{control.check_conv_decrease:g}), max |projected gradient| = {max_grad:.3g}, "
            f"smallest Hessian eigenvalue over free θ = {hess_min}"
        )
    if curvature_ok and eigenvalues is not None and _degenerate(eigenvalues, control):
        messages.append(
            "degenerate Hessian: the criterion is flat along a direction of θ (smallest "
            f"eigenvalue {hess_min:.3g}, largest {float(eigenvalues.max()):.3g}), so a "
            "variance component is not identified by these data (e.g. a grouping factor "
            "constant within a fixed-effect factor); lme4 warns of the same. Its estimate "
            "is one point of a ridge: drop the term or the confounded fixed effect"
        )
    return OptimumReport(
        theta=external(theta),
        criterion=float(value),
        runs=runs,
        evaluations=f.count,
        projected_gradient=[float(g) for g in gradient],
        max_abs_projected_gradient=max_grad,
        max_scaled_gradient=float(scaled),
        predicted_decrease=float(decrease),
        hessian_min_eigenvalue=hess_min,
        at_bound=[bool(b) for b in at_bound],
        boundary_probe="; ".join(probe_notes),
        verified=bool(verified),
        runs_agree=bool(runs_agree),
        messages=messages,
        check_conv_grad=control.check_conv_grad,
    )

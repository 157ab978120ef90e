"""Whether the best point of a search is the optimum: the first- and second-order
optimality (KKT) conditions at the point, by finite differences.

The gradient is projected at the bounds (an element on its bound may have a positive
slope into the interior), the Hessian taken over the free elements; the point is verified
when lme4's scale-aware ``check.conv.grad`` measure (:func:`scaled_gradient_measure`) and
the decrease a Newton step would still bring (:func:`newton_decrease`, the same in any
coordinates) are within :class:`~hlmrep.engine.control.Control`'s tolerances and the
curvature is not that of a saddle.  lme4's ``checkConv``, with the verdict recorded
(:class:`~hlmrep.engine.optimizer_runs.OptimumReport`), not printed as a warning.
"""

from __future__ import annotations

import math

import numpy as np

from hlmrep.engine import kernel
from hlmrep.engine.control import DEFAULT_CONTROL, Control
from hlmrep.engine.optimizer_runs import OptimumReport
from hlmrep.engine.optimizers import (
    CountedObjective,
    Objective,
    Search,
    central_difference_points,
)
from hlmrep.errors import ModelSpecificationError


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
    values = f.batch(central_difference_points(theta, h)[1:])
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


def check(found: Search, lower: np.ndarray, control: Control = DEFAULT_CONTROL) -> OptimumReport:
    """The evidence that the best point of ``found`` is the optimum (see the module), with
    every run of the search; ``lower`` in the search's internal coordinates."""
    f, runs, theta, value = found.objective, found.runs, found.phi, found.criterion
    messages: list[str] = []
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
        theta=found.external(theta),
        criterion=float(value),
        runs=runs,
        evaluations=f.count,
        projected_gradient=[float(g) for g in gradient],
        max_abs_projected_gradient=max_grad,
        max_scaled_gradient=float(scaled),
        predicted_decrease=float(decrease),
        hessian_min_eigenvalue=hess_min,
        at_bound=[bool(b) for b in at_bound],
        boundary_probe="; ".join(found.probe_notes),
        verified=bool(verified),
        runs_agree=bool(runs_agree),
        messages=messages,
        check_conv_grad=control.check_conv_grad,
    )

"""The profile of the ML deviance in each parameter of a fit, and its crossings.

**Profile** (``confint(fit)``, lme4's default; Bates et al. 2015, JSS 67(1), §5.1).  lme4
profiles the *ML* deviance, refitting a REML fit by ML first (``profile.merMod`` calls
``refitML``), over the parameters it prints: ``.sig01``, ``.sig02``, … (the standard
deviations of the random effects and their correlations, in θ's order), ``.sigma`` and the
fixed effects.  For one parameter held at a value v the deviance is minimized over all the
others; ζ(v) = sign(v − v̂)·√(d(v) − d̂) is the signed root of the likelihood-ratio
statistic, and the interval is where ζ = ±z (z = 1.96 at 95 %).  lme4 evaluates ζ on a grid
and reads the crossings off an interpolating spline; here each crossing is found as a root
(a bracketing secant search, then Brent's method), so the limits are the profile's own, to
about 1e-7, and lme4's agree with them to its spline's accuracy.

- A variance parameter held fixed: the deviance −2 log L(θ, σ) with β profiled out
  (``kernel.deviance_at_sigma``, lme4's ``devfun2``) is minimized over the other SDs,
  correlations and σ, in units of their standard errors, with the same BOBYQA as the fit.
  An SD whose profile stays below z down to 0 has lower limit 0, a correlation that stays
  below it up to ±1 has limit ±1, as lme4 reports them.
- A fixed effect held at b: its column moves into the response (y − b·x_j, lme4's offset),
  and the ML criterion with σ and the other β profiled out is minimized over θ; the
  cross-products of the reduced problem follow from the fit's in O(J·q·p).

The intervals it gives are :mod:`~hlmrep.engine.intervals`' (``confint()``).
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import TYPE_CHECKING

import nlopt
import numpy as np

from hlmrep.engine import kernel
from hlmrep.engine.deviance import CrossProducts, cross_products, theta_layout
from hlmrep.engine.intervals import Interval
from hlmrep.engine.optimality import central_hessian

if TYPE_CHECKING:
    from hlmrep.engine.model import LmmResult


def ml_fit(result: LmmResult) -> LmmResult:
    """The fit by ML (itself if it is one): what lme4 profiles."""
    if not result.reml:
        return result
    from hlmrep.engine.model import fit_design

    return fit_design(result.design, result.specification.with_reml(False), result.control)


#: A limit is on a higher branch when a lower valley gives |ζ| this much below the target.
BRANCH_TOLERANCE = 1e-4
#: Valleys of a variance profile followed from point to point (:meth:`Profiler._lowest_branch`).
MAX_VALLEYS = 4
#: Two inner solutions this far apart (in SE units, any coordinate) are different valleys.
VALLEY_SEPARATION = 1e-2


class Profiler:
    """The profile of every parameter of one ML fit."""

    #: BOBYQA's tolerance on the criterion in the inner minimizations: ζ's error is about
    #: this / (2ζ), far below the 1e-6 the limits are printed to.
    INNER_FTOL = 1e-11
    #: Crossings are located to this, relative to the parameter's standard error.
    ROOT_XTOL = 1e-8

    def __init__(self, ml: LmmResult, z: float) -> None:
        self.ml, self.z = ml, z
        self.notes: list[str] = []
        self.evaluations = 0
        d = ml.design
        self.spec = ml.specification
        self.q = len(ml.random_names)
        self.rows, self.cols = theta_layout(self.q)
        self.free = self.spec.free_theta(self.q)
        self.cp: CrossProducts = cross_products(d.X, d.Z, d.y, d.group_index, len(d.group_levels))
        self.base = ml.criterion
        sig = self.spec.sigma_parameters(ml.theta, ml.sigma, self.q)
        self.estimate = np.concatenate([sig, [ml.sigma]])
        self.is_sd = np.concatenate([self.rows[self.free] == self.cols[self.free], [True]])
        self.se = self._standard_errors()

    # ----- the deviance in lme4's profile parameters (SDs, correlations, σ) ----------------
    def theta_of(self, x: np.ndarray) -> np.ndarray | None:
        """θ of SDs and correlations (free θ's order) and σ; None outside the space."""
        q, sigma = self.q, x[-1]
        if not sigma > 0:
            return None
        values = np.zeros(len(self.rows))
        values[self.free] = x[:-1]
        sd = np.zeros(q)
        corr = np.eye(q)
        for k in range(len(self.rows)):
            r, c = self.rows[k], self.cols[k]
            if r == c:
                sd[r] = values[k]
            else:
                corr[r, c] = corr[c, r] = values[k]
        if np.any(sd < 0) or np.any(np.abs(corr) > 1):
            return None
        factor = _semidefinite_cholesky(corr)
        if factor is None:
            return None
        T = (sd / sigma)[:, None] * factor
        return T[self.rows, self.cols]

    def deviance(self, x: np.ndarray) -> float:
        self.evaluations += 1
        theta = self.theta_of(x)
        if theta is None:
            return math.inf
        cp = self.cp
        return kernel.deviance_at_sigma(
            theta, self.rows, self.cols, cp.ZtZ, cp.ZtXy, cp.XytXy, cp.n, float(x[-1]), False
        )

    def _standard_errors(self) -> np.ndarray:
        """Each profile parameter's SE from the deviance's curvature (2H⁻¹): the unit of
        the inner searches and the first step of each crossing search."""
        x0 = self.estimate
        h = 1e-3 * np.maximum(np.abs(x0), 0.1)
        H = central_hessian(self.deviance, x0, h)
        fallback = 0.1 * np.maximum(np.abs(x0), 1e-3)
        if not np.all(np.isfinite(H)):
            return fallback
        try:
            covariance = 2.0 * np.linalg.inv(H)
        except np.linalg.LinAlgError:
            return fallback
        diag = np.diag(covariance)
        return np.where(np.isfinite(diag) & (diag > 0), np.sqrt(np.abs(diag)), fallback)

    def _bounds(self, index: int) -> tuple[float, float]:
        if self.is_sd[index]:
            return (0.0, math.inf) if index < len(self.estimate) - 1 else (1e-12, math.inf)
        return (-1.0, 1.0)

    # ----- one parameter held fixed ------------------------------------------------------------
    def _minimize_others(
        self, objective, start: np.ndarray, lower: np.ndarray, upper: np.ndarray
    ) -> tuple[np.ndarray, float]:
        """BOBYQA over the free parameters, in their SE units, from ``start`` (warm)."""
        if len(start) == 0:
            return start, objective(start)
        opt = nlopt.opt(nlopt.LN_BOBYQA, len(start))
        opt.set_lower_bounds(lower)
        opt.set_upper_bounds(upper)
        best = {"value": math.inf, "x": np.clip(start, lower, upper)}

        def wrapped(u: np.ndarray, grad: np.ndarray) -> float:
            value = objective(u)
            if value < best["value"]:
                best["value"], best["x"] = value, np.array(u)
            return value if math.isfinite(value) else 1e300

        opt.set_min_objective(wrapped)
        opt.set_ftol_abs(self.INNER_FTOL)
        opt.set_xtol_abs(1e-9)
        opt.set_initial_step(0.25)
        opt.set_maxeval(20_000)
        with contextlib.suppress(nlopt.RoundoffLimited, ValueError, RuntimeError):
            opt.optimize(np.clip(start, lower, upper))
        return np.asarray(best["x"]), float(best["value"])

    def _variance_zeta(self, index: int, thorough: bool = False):
        """ζ of variance parameter ``index`` as a function of its value, warm started from
        the previous value's solution; ``thorough``: over every valley met and sought
        (:meth:`_lowest_branch`), the attribute ``valleys`` holding the last ones."""
        x0, se = self.estimate, self.se
        others = np.array([k for k in range(len(x0)) if k != index], dtype=int)
        lo = np.array([self._bounds(k)[0] for k in others], dtype=float)
        hi = np.array([self._bounds(k)[1] for k in others], dtype=float)
        lower_u = np.where(np.isfinite(lo), (lo - x0[others]) / se[others], -1e10)
        upper_u = np.where(np.isfinite(hi), (hi - x0[others]) / se[others], 1e10)
        state = {"valleys": [np.zeros(len(others))]}

        def zeta(value: float) -> float:
            def objective(u: np.ndarray) -> float:
                x = x0.copy()
                x[others] = x0[others] + u * se[others]
                x[index] = value
                return self.deviance(x)

            valleys, best = self._lowest_branch(
                objective, state["valleys"], others, lower_u, upper_u, thorough
            )
            if not math.isfinite(best):
                return math.inf
            state["valleys"] = valleys
            return self._signed_root(value - x0[index], best)

        zeta.state = state  # type: ignore[attr-defined]
        return zeta

    def _lowest_branch(
        self,
        objective,
        valleys: list[np.ndarray],
        others: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        thorough: bool = True,
    ) -> tuple[list[np.ndarray], float]:
        """The minimum of ``objective`` over the other parameters, following every valley
        the profile has met so far and looking for new ones; the valleys found here (the
        lowest first) and the minimum.

        The minimum over the others can have several valleys: where a correlation
        reaches ±1, one with it at the bound and one inside or at the other bound, and
        elsewhere valleys that differ in the other SDs.  A search warm started from the
        previous point's solution alone stays in the valley it was in after another has
        become the lower, and a limit read off it is the wrong branch's: on 34
        five-subject ML fits of sleepstudy with a correlation of ±1, 8 limits had a true ζ
        of 1.59 to 1.88 instead of 1.96, and model3a's profile put .sig03's upper limit at
        0.757 where ζ is 1.74.  So with two or more random effects each point is searched
        from every valley carried from the points before (at most :data:`MAX_VALLEYS`),
        from the fit's own values, and from the previous point's lowest solution with its
        correlations at 0 and at the other sign and its SDs a quarter and four times as
        large; the lowest is the profile.
        """
        correlation = ~self.is_sd[others]
        random_sd = self.is_sd[others] & (others < len(self.estimate) - 1)
        found: list[tuple[float, np.ndarray]] = []

        def search(start: np.ndarray) -> None:
            feasible = self._feasible(objective, start, others)
            if feasible is not None:
                u, value = self._minimize_others(objective, feasible, lower, upper)
                if math.isfinite(value):
                    found.append((value, u))

        for valley in valleys if thorough else valleys[:1]:
            search(valley)
        if thorough and self.q >= 2:
            search(np.zeros(len(others)))  # the fit's own values
            x0, se = self.estimate[others], self.se[others]
            previous = x0 + valleys[0] * se  # the previous point's lowest solution
            for which, make in (
                (correlation, lambda r: np.zeros_like(r)),
                (correlation, lambda r: -r),
                (random_sd, lambda r: r / 4),
                (random_sd, lambda r: r * 4),
            ):
                if which.any():
                    x = previous.copy()
                    x[which] = make(x[which])
                    search((x - x0) / se)
        if not found:
            return valleys, math.inf
        found.sort(key=lambda item: item[0])
        distinct: list[np.ndarray] = []
        for _, u in found:
            if all(np.max(np.abs(u - kept)) > VALLEY_SEPARATION for kept in distinct):
                distinct.append(u)
        return distinct[:MAX_VALLEYS], found[0][0]

    def _feasible(self, objective, u: np.ndarray, others: np.ndarray) -> np.ndarray | None:
        """``u``, or ``u`` with the other correlations shrunk toward 0 until the criterion is
        finite there (holding one correlation of three or more random effects fixed can
        leave the rest not positive definite); None if none is."""
        if math.isfinite(objective(u)):
            return u
        x0, se = self.estimate, self.se
        correlation = ~self.is_sd[others]
        for shrink in (0.9, 0.7, 0.5, 0.25, 0.0):
            x = x0[others] + u * se[others]
            x[correlation] *= shrink
            candidate = (x - x0[others]) / se[others]
            if math.isfinite(objective(candidate)):
                return candidate
        return None

    def _signed_root(self, offset: float, deviance: float) -> float:
        gap = deviance - self.base
        if gap < -1e-6:
            self.notes.append(
                f"the profile found a deviance {-gap:.3g} below the ML fit's: the fit was "
                "not at the optimum"
            )
        return math.copysign(math.sqrt(max(gap, 0.0)), offset) if offset else 0.0

    def variance_rows(self) -> list[Interval]:
        names = [*self.spec.sigma_parameter_names(self.q), ".sigma"]
        meanings = self.spec.sigma_parameter_labels(self.ml.design.group, self.ml.random_names)
        meanings = [*meanings, "sigma"]
        rows = []
        for index, (name, meaning) in enumerate(zip(names, meanings, strict=True)):
            low, high = self._bounds(index)
            limits = []
            for target in (-self.z, self.z):

                def search(zeta, index=index, target=target, low=low, high=high):
                    return functools.partial(
                        _crossing,
                        zeta,
                        float(self.estimate[index]),
                        float(self.se[index]),
                        target,
                        low,
                        high,
                        self.ROOT_XTOL,
                    )

                zeta = self._variance_zeta(index)
                limit = self._limit(name, target, search(zeta))
                if self.q >= 2 and limit is not None and low < limit < high:
                    # The limit of the warm-started profile, checked over every valley
                    # (:meth:`_lowest_branch`): where a lower one reaches below ζ there,
                    # the profile is followed over all valleys from the start.
                    check = self._variance_zeta(index, thorough=True)
                    check.state["valleys"] = zeta.state["valleys"]
                    if abs(check(limit)) < abs(target) - BRANCH_TOLERANCE:
                        thorough = self._variance_zeta(index, thorough=True)
                        limit = self._limit(name, target, search(thorough))
                limits.append(limit)
            rows.append(Interval(name, meaning, float(self.estimate[index]), *limits))
        return rows

    def _limit(self, name: str, target: float, search) -> float | None:
        """One limit, or None (NA) with a note where the profile cannot reach it."""
        side = "lower" if target < 0 else "upper"
        try:
            value = search()
        except (ArithmeticError, ValueError, np.linalg.LinAlgError) as error:
            value = None
            self.notes.append(f"{name}: {side} limit not computed ({error})")
        else:
            if value is None:
                self.notes.append(
                    f"{name}: the profile ends before its {side} limit (the parameter space "
                    "ends there, e.g. a correlation matrix no longer positive definite): NA"
                )
        return value

    # ----- a fixed effect held fixed -------------------------------------------------------------
    def fixed_rows(self) -> list[Interval]:
        ml = self.ml
        from hlmrep.engine.model import scaled_cross_products

        scaled, scales = scaled_cross_products(ml.design)
        theta_hat = (ml.theta * scales[self.rows])[self.free]
        lower = np.where(self.rows == self.cols, 0.0, -1e10)[self.free]
        rows = []
        for j, name in enumerate(ml.fixed_names):
            beta, se = float(ml.beta.iloc[j]), float(ml.std_errors.iloc[j])
            limits = []
            for target in (-self.z, self.z):
                zeta = self._fixed_zeta(scaled, j, beta, theta_hat, lower)
                limits.append(
                    self._limit(
                        name,
                        target,
                        functools.partial(
                            _crossing, zeta, beta, se, target, -math.inf, math.inf, self.ROOT_XTOL
                        ),
                    )
                )
            rows.append(Interval(name, name, beta, *limits))
        return rows

    def _fixed_zeta(
        self, cp: CrossProducts, j: int, beta: float, theta_hat: np.ndarray, lower: np.ndarray
    ):
        p = cp.p
        keep = [k for k in range(p) if k != j]
        columns = [*keep, p]
        ZtXy_base = np.ascontiguousarray(cp.ZtXy[:, :, columns])
        Ztx = cp.ZtXy[:, :, j]
        S_base = cp.XytXy[np.ix_(columns, columns)]
        Xtx = cp.XytXy[columns, j]
        xtx = cp.XytXy[j, j]
        rows, cols, spec, q, n = self.rows, self.cols, self.spec, self.q, cp.n
        upper = np.full(len(theta_hat), 1e10)
        state = {"theta": theta_hat.copy()}

        def zeta(value: float) -> float:
            ZtXy = ZtXy_base.copy()
            ZtXy[:, :, -1] -= value * Ztx
            S = S_base.copy()
            S[:-1, -1] -= value * Xtx[:-1]
            S[-1, :-1] = S[:-1, -1]
            S[-1, -1] = S_base[-1, -1] - 2 * value * Xtx[-1] + value * value * xtx
            ZtZ = cp.ZtZ

            def objective(phi: np.ndarray) -> float:
                self.evaluations += 1
                theta = spec.embed(phi, q) if len(phi) != len(rows) else phi
                return kernel.deviance(theta, rows, cols, ZtZ, ZtXy, S, n, False)

            phi, best = self._minimize_others(objective, state["theta"], lower, upper)
            state["theta"] = phi
            return self._signed_root(value - beta, best)

        return zeta


def _semidefinite_cholesky(matrix: np.ndarray, tol: float = 1e-12) -> np.ndarray | None:
    """Lower L with LL' = matrix for a positive semi-definite matrix (None if it is not):
    a correlation of ±1 is a legal end of its profile, as in lme4, where LAPACK's Cholesky
    would refuse the singular matrix."""
    n = len(matrix)
    L = np.zeros((n, n))
    for j in range(n):
        pivot = matrix[j, j] - L[j, :j] @ L[j, :j]
        if pivot < -tol:
            return None
        L[j, j] = math.sqrt(max(pivot, 0.0))
        for i in range(j + 1, n):
            rest = matrix[i, j] - L[i, :j] @ L[j, :j]
            if L[j, j] > tol:
                L[i, j] = rest / L[j, j]
            elif abs(rest) > 1e-9:
                return None
    return L


def _crossing(
    zeta, estimate: float, step: float, target: float, low: float, high: float, xtol: float
) -> float | None:
    """Where the increasing profile ζ reaches ``target`` (< 0: below the estimate), the
    bound if it does not within [low, high], or None where the profile cannot be followed
    that far (the parameter space ends first, as for a correlation whose matrix stops
    being positive definite; lme4 reports NA there)."""
    direction = 1.0 if target > 0 else -1.0
    bound = high if direction > 0 else low
    tolerance = xtol * max(step, 1e-300)
    a, za = estimate, 0.0
    x = estimate + direction * abs(target) * step
    stalled = 0
    for _ in range(100):
        if (x - bound) * direction >= 0:
            x = bound
        zx = zeta(x)
        retreats = 0
        while not math.isfinite(zx) and retreats < 30:  # beyond the parameter space
            x = a + (x - a) / 2
            zx = zeta(x)
            retreats += 1
        if not math.isfinite(zx):
            return None
        if (zx - target) * direction >= 0:
            return _bracketed_root(
                lambda v: zeta(v) - target, a, za - target, x, zx - target, tolerance
            )
        if x == bound:
            return float(bound)
        stalled = stalled + 1 if retreats else 0
        if stalled >= 5 or x == a:
            return None
        slope = (zx - za) / (x - a)
        distance = x - a
        if slope * direction > 0:
            guess = x + (target - zx) / slope * 1.05
            new = x + direction * min(abs(guess - x), 4 * abs(distance))
        else:
            new = x + 2 * distance
        a, za, x = x, zx, new
    return None


def _bracketed_root(
    f, a: float, fa: float, b: float, fb: float, tolerance: float, iterations: int = 100
) -> float:
    """A root of f between a and b (fa and fb of opposite signs): the Illinois variant of
    regula falsi, superlinear on a smooth profile, never leaving the bracket."""
    side = 0
    for _ in range(iterations):
        c = b - fb * (b - a) / (fb - fa) if fb != fa else 0.5 * (a + b)
        if not min(a, b) < c < max(a, b):
            c = 0.5 * (a + b)
        fc = f(c)
        if fc == 0:
            return float(c)
        if not math.isfinite(fc):  # outside the parameter space: shrink from the far side
            b = c
            continue
        if (fc > 0) == (fb > 0):
            b, fb = c, fc
            if side == -1:
                fa /= 2
            side = -1
        else:
            a, fa = c, fc
            if side == 1:
                fb /= 2
            side = 1
        if abs(b - a) < tolerance or min(abs(fa), abs(fb)) < 1e-10:
            break
    return float(b if abs(fb) < abs(fa) else a)

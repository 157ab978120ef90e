"""Satterthwaite's degrees of freedom for the fixed effects, as lmerTest computes them.

lmerTest (Kuznetsova, Brockhoff & Christensen 2017, JSS 82(13), §3.1) takes the variance
parameters as φ = (θ, σ) and

- A = 2 H⁻¹, H the Hessian of the criterion −2 log L(φ) (REML criterion for a REML fit,
  β profiled out: ``devfun_vp``), the asymptotic covariance of φ̂;
- V(φ) = σ²(R_X'R_X)⁻¹, the covariance of β̂ at φ, and g_k = ∂(c'Vc)/∂φ_k;
- ν = 2 (c'Vc)² / (g'Ag) for a contrast c; for each coefficient c is a unit vector.

The t statistic β̂/SE is referred to t(ν): p = 2·P(t_ν > |t|); an F test of several
contrasts sums ν over the eigenvectors of L V L' (:meth:`SatterthwaiteIngredients.f_test`,
lmerTest's ``contestMD``).  Both derivatives are central differences on the internally
scaled θ, at steps h and h/2, extrapolated once (Richardson: (4·D(h/2) − D(h))/3, error
O(h⁴)), with h = 1e-2·max(|φ_k|, 0.1): large enough that the criterion's rounding divided
by h² stays far below the curvature, small enough that the O(h⁴) remainder is ~1e-8.  On
balanced designs, whose exact ν is an integer (sleepstudy 17, Orthodont 25, Machines 5),
ν is then within 6e-6 relative of it, where plain central differences at
1e-3·max(|φ_k|, 0.1) are off by 1e-5 to 1e-4 (25.0013 for 25).  lmerTest takes numDeriv's
Richardson extrapolation (four steps from 1e-4·|φ_k|); the two agree to 1e-5 on ten
outside data sets (tests/engine/test_small_sample.py).  Only the free θ are parameters
(``(x || g)``: T's diagonal).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hlmrep.engine import kernel
from hlmrep.engine.deviance import solve_at, theta_layout
from hlmrep.engine.optimality import central_hessian

if TYPE_CHECKING:
    from hlmrep.engine.model import LmmResult

#: Finite-difference step for the Hessian and the Jacobian: STEP·max(|φ_k|, STEP_FLOOR),
#: then half of it, extrapolated (see the module).
STEP = 1e-2
STEP_FLOOR = 0.1


@dataclass(frozen=True)
class TTestRow:
    """One fixed effect's t test as lmerTest's ``summary()`` prints it (Satterthwaite's or
    Kenward-Roger's df)."""

    term: str
    estimate: float
    std_error: float
    df: float
    t_value: float
    p_value: float

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _richardson(derivative: Callable[[np.ndarray], np.ndarray], h: np.ndarray) -> np.ndarray:
    """A central-difference derivative at steps h and h/2, extrapolated: error O(h⁴)."""
    return (4.0 * derivative(h / 2) - derivative(h)) / 3.0


@dataclass(frozen=True)
class SatterthwaiteIngredients:
    """What every Satterthwaite df needs (lmerTest's ``vcov_beta``, ``Jac_list`` and
    ``vcov_varpar``), in the coordinates φ = (scaled free θ, σ)."""

    #: V = σ²(R_X'R_X)⁻¹ at the estimates, (p, p)
    vcov: np.ndarray
    #: ∂V/∂φ_k, (m, p, p)
    jacobian: np.ndarray
    #: A = 2 H⁻¹, the asymptotic covariance of φ̂, (m, m)
    varpar_vcov: np.ndarray

    def df(self, contrast: np.ndarray) -> float:
        """ν = 2 (c'Vc)² / (g'Ag) for one contrast c (∞ where g'Ag = 0)."""
        c = np.asarray(contrast, dtype=float)
        g = np.einsum("a,kab,b->k", c, self.jacobian, c)
        denominator = float(g @ self.varpar_vcov @ g)
        variance = float(c @ self.vcov @ c)
        return 2.0 * variance**2 / denominator if denominator > 0 else math.inf

    def f_test(self, L: np.ndarray, beta: np.ndarray) -> tuple[float, int, float]:
        """F, its numerator and denominator df for H0: Lβ = 0 (lmerTest's ``contestMD``:
        the eigen-decomposition of L V L', one ν per positive eigenvalue, combined by
        :func:`combined_df`); (nan, 0, nan) where L V L' has no positive eigenvalue."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        if L.shape[0] == 1:
            t_value = float(L[0] @ beta) / math.sqrt(float(L[0] @ self.vcov @ L[0]))
            return t_value**2, 1, self.df(L[0])
        values, vectors = np.linalg.eigh(L @ self.vcov @ L.T)
        order = np.argsort(values)[::-1]  # R's eigen(): decreasing
        values, vectors = values[order], vectors[:, order]
        positive = values > max(EIGEN_TOLERANCE * values[0], 0.0)
        q = int(positive.sum())
        if q == 0:
            return math.nan, 0, math.nan
        rotated = vectors.T @ L
        if q == 1:
            c = rotated[0]
            t_value = float(c @ beta) / math.sqrt(float(c @ self.vcov @ c))
            return t_value**2, 1, self.df(c)
        f_value = float(np.sum((rotated[:q] @ beta) ** 2 / values[:q])) / q
        return f_value, q, combined_df([self.df(rotated[m]) for m in range(q)])


#: lmerTest's ``eps`` for the eigenvalues of L V L' counted as positive: √(machine ε).
EIGEN_TOLERANCE = math.sqrt(np.finfo(float).eps)


def combined_df(nu: list[float], tolerance: float = 1e-8) -> float:
    """An F test's denominator df from its directions' ν (lmerTest's ``get_Fstat_ddf``):
    E = Σ ν/(ν − 2), df = 2E/(E − q); 2 when a ν ≤ 2; their mean when all are equal."""
    values = np.asarray(nu, dtype=float)
    if len(values) == 1:
        return float(values[0])
    if np.all(np.abs(np.diff(values)) < tolerance):
        return float(values.mean())
    if np.any(values <= 2):
        return 2.0
    E = float(np.sum(values / (values - 2)))
    return 2 * E / (E - len(values))


def ingredients(result: LmmResult) -> SatterthwaiteIngredients:
    """V, ∂V/∂φ and A at the fit (see the module)."""
    from hlmrep.engine.model import scaled_cross_products

    d = result.design
    # On the random-effect columns divided by their scale (as the fit): ν does not depend
    # on the coordinates of φ, and the finite-difference steps then mean the same on
    # every scale of the covariates.
    cp, scales = scaled_cross_products(d)
    q = len(result.random_names)
    rows, cols = theta_layout(q)
    free = result.specification.free_theta(q)
    reml = result.reml
    point = np.concatenate([(result.theta * scales[rows])[free], [result.sigma]])

    def full_theta(phi: np.ndarray) -> np.ndarray:
        theta = np.zeros(len(rows))
        theta[free] = phi[:-1]
        return theta

    def criterion(phi: np.ndarray) -> float:
        return kernel.deviance_at_sigma(
            full_theta(phi), rows, cols, cp.ZtZ, cp.ZtXy, cp.XytXy, cp.n, float(phi[-1]), reml
        )

    def vcov(phi: np.ndarray) -> np.ndarray:
        solution = solve_at(full_theta(phi), cp, reml)
        # solve_at's vcov uses σ̂²(θ); lmerTest's V(φ) uses φ's own σ.
        return solution.vcov_beta / solution.sigma2 * phi[-1] ** 2

    m = len(point)
    V = vcov(point)

    def jacobian(step: np.ndarray) -> np.ndarray:
        out = np.empty((m, *V.shape))
        for k in range(m):
            up, down = point.copy(), point.copy()
            up[k] += step[k]
            down[k] -= step[k]
            out[k] = (vcov(up) - vcov(down)) / (2 * step[k])
        return out

    h = STEP * np.maximum(np.abs(point), STEP_FLOOR)
    H = _richardson(lambda step: central_hessian(criterion, point, step), h)
    return SatterthwaiteIngredients(
        vcov=V, jacobian=_richardson(jacobian, h), varpar_vcov=2.0 * np.linalg.pinv(H)
    )


def satterthwaite(
    result: LmmResult, parts: SatterthwaiteIngredients | None = None
) -> list[TTestRow]:
    """Each fixed effect's Satterthwaite df, t value and p-value (lmerTest); ``parts``:
    the fit's ingredients when already computed."""
    from scipy.special import stdtr  # t tail; scipy.stats would add 0.3 s

    parts = ingredients(result) if parts is None else parts
    out = []
    beta = result.solution.beta
    for j, name in enumerate(result.fixed_names):
        unit = np.zeros(len(beta))
        unit[j] = 1.0
        df = parts.df(unit)
        se = math.sqrt(parts.vcov[j, j])
        t_value = beta[j] / se
        p_value = float(2.0 * stdtr(df, -abs(t_value)))
        out.append(TTestRow(name, float(beta[j]), se, float(df), float(t_value), p_value))
    return out

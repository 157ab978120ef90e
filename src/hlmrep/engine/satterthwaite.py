"""Satterthwaite's degrees of freedom for the fixed effects, as lmerTest computes them.

lmerTest (Kuznetsova, Brockhoff & Christensen 2017, JSS 82(13), §3.1) takes the variance
parameters as φ = (θ, σ) and

- A = 2 H⁻¹, H the Hessian of the criterion −2 log L(φ) (REML criterion for a REML fit,
  β profiled out: ``devfun_vp``), the asymptotic covariance of φ̂;
- V(φ) = σ²(R_X'R_X)⁻¹, the covariance of β̂ at φ, and g_k = ∂(c'Vc)/∂φ_k;
- ν = 2 (c'Vc)² / (g'Ag) for a contrast c; for each coefficient c is a unit vector.

The t statistic β̂/SE is referred to t(ν): p = 2·P(t_ν > |t|).  Both derivatives are
taken here by central differences on the internally scaled θ (lmerTest uses numDeriv's
Richardson extrapolation; the two agree to 1e-3 in ν).  Only the free θ are parameters
(``(x || g)``: T's diagonal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hlmrep.engine import kernel
from hlmrep.engine.deviance import solve_at, theta_layout
from hlmrep.engine.optimize import central_hessian

if TYPE_CHECKING:
    from hlmrep.engine.model import LmmResult

#: Finite-difference step for the Hessian and the Jacobian: STEP·max(|φ_k|, STEP_FLOOR).
#: The criterion's rounding (≈1e-11 on HSB) divided by h² must stay far below the
#: curvature: at 1e-4·1e-2 it does not for a near-zero θ (ν off by 0.05); at these values
#: ν agrees with lmerTest's numDeriv to 1e-3.
STEP = 1e-3
STEP_FLOOR = 0.1


@dataclass(frozen=True)
class SatterthwaiteRow:
    """One fixed effect as lmerTest's ``summary()`` prints it."""

    term: str
    estimate: float
    std_error: float
    df: float
    t_value: float
    p_value: float

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def satterthwaite(result: LmmResult) -> list[SatterthwaiteRow]:
    """Each fixed effect's Satterthwaite df, t value and p-value (lmerTest)."""
    from scipy.stats import t as student_t

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
    h = STEP * np.maximum(np.abs(point), STEP_FLOOR)
    H = central_hessian(criterion, point, h)
    A = 2.0 * np.linalg.pinv(H)
    V = vcov(point)
    jacobian = np.empty((m, *V.shape))
    for k in range(m):
        up, down = point.copy(), point.copy()
        up[k] += h[k]
        down[k] -= h[k]
        jacobian[k] = (vcov(up) - vcov(down)) / (2 * h[k])
    out = []
    beta = result.solution.beta
    for j, name in enumerate(result.fixed_names):
        variance = V[j, j]
        g = jacobian[:, j, j]
        denominator = float(g @ A @ g)
        df = 2.0 * variance**2 / denominator if denominator > 0 else math.inf
        se = math.sqrt(variance)
        t_value = beta[j] / se
        p_value = float(2.0 * student_t.sf(abs(t_value), df))
        out.append(SatterthwaiteRow(name, float(beta[j]), se, float(df), float(t_value), p_value))
    return out

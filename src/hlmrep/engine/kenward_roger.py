"""Kenward and Roger's small-sample inference for the fixed effects, as pbkrtest computes it.

Kenward & Roger (1997, Biometrics 53, 983–997) replace the REML covariance of β̂,
Φ = (X'Σ⁻¹X)⁻¹, which ignores that the variance parameters were estimated, by

    Φ_A = Φ + 2 Φ U Φ,   U = Σ_ij W_ij (Q_ij − P_i Φ P_j)

(their eq. 2 with R_ij = 0: Σ is linear in the parameters), and refer a Wald F of a
contrast L, scaled, to an F distribution whose denominator df match its first two moments
(their §4).  The parameters γ are those of pbkrtest's ``get_SigmaG`` (Halekoh & Højsgaard
2014, JSS 59(9), §4): every element of the random effects' covariance matrix that the model
estimates (the lower triangle, or the diagonal alone for ``||``) and the residual
variance, so that Σ = Σ_r γ_r G_r with G_r = Z (E_r ⊗ I_J) Z' and G_residual = I;
then P_r = −X'Σ⁻¹G_rΣ⁻¹X, Q_rs = X'Σ⁻¹G_rΣ⁻¹G_sΣ⁻¹X, and W = 2 I_E⁻¹, the REML estimates'
asymptotic covariance from the expected information
I_E,rs = tr(Σ⁻¹G_rΣ⁻¹G_s) − 2 tr(Φ Q_rs) + tr(Φ P_r Φ P_s) (pbkrtest's ``IE2``).

Nothing of size n × n is formed: Σ is block-diagonal by group, and with
Σ_j = σ²(I + Z_jTT'Z_j'), Woodbury gives σ²Σ_j⁻¹ = I + Z_j F Z_j', F = −T(T'Z_j'Z_jT + I)⁻¹T',
so every product above is a sum over groups of q × q and q × p matrices built from
Z_j'Z_j, Z_j'X_j and X'X (powers of σ²Σ_j⁻¹ stay of the form I + Z_j F_k Z_j').  pbkrtest
works with the sparse n × n matrices and inverts Σ whole; the two agree to rounding.

Kenward–Roger is defined for REML fits (lmerTest refuses an ML fit; pbkrtest refits it by
REML without saying so): :func:`kenward_roger` refuses an ML fit with that advice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hlmrep.engine.deviance import group_sums, relative_covariance_factor, theta_layout
from hlmrep.engine.satterthwaite import TTestRow
from hlmrep.errors import ModelSpecificationError

if TYPE_CHECKING:
    from hlmrep.engine.model import LmmResult

#: pbkrtest inverts the expected information when its smallest |eigenvalue| exceeds this,
#: and takes its Moore–Penrose inverse otherwise (a variance at zero, say).
INFORMATION_CONDITION = 1e-10


@dataclass(frozen=True)
class KenwardRogerAdjustment:
    """Φ, Φ_A and what the df of any contrast need (pbkrtest's ``vcovAdj`` and its
    attributes ``P`` and ``W``)."""

    #: Φ = (X'Σ̂⁻¹X)⁻¹: lme4's ``vcov()`` of the REML fit.
    vcov: np.ndarray
    #: Φ_A, the adjusted covariance of β̂ (pbkrtest's ``vcovAdj``).
    vcov_adjusted: np.ndarray
    #: P_r for each variance parameter, (m, p, p).
    P: np.ndarray
    #: W = 2 I_E⁻¹, the variance parameters' asymptotic covariance, (m, m).
    W: np.ndarray
    #: The variance parameters' names: ``cov(a, b)`` of the random effects, ``residual``.
    parameters: tuple[str, ...]

    def df(self, L: np.ndarray) -> float:
        """The denominator df of the contrast rows ``L`` (pbkrtest's ``Lb_ddf``; one row:
        the df of a t test)."""
        return float(_moments(np.atleast_2d(L), self.vcov, self.P, self.W, rows=True)[0])

    def f_test(self, L: np.ndarray, beta: np.ndarray) -> KenwardRogerF:
        """The scaled Wald F of H0: Lβ = 0 and its df (pbkrtest's ``KRmodcomp``)."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        df2, scaling, q = _moments(L, self.vcov, self.P, self.W, rows=False)
        Lb = L @ beta
        wald = float(Lb @ np.linalg.solve(L @ self.vcov_adjusted @ L.T, Lb))
        unscaled = wald / q
        return KenwardRogerF(
            numerator_df=q, denominator_df=df2, f_unscaled=unscaled, scaling=scaling
        )


@dataclass(frozen=True)
class KenwardRogerF:
    """A Kenward–Roger F test: ``f_value`` = ``scaling`` · ``f_unscaled`` on
    (``numerator_df``, ``denominator_df``) df."""

    numerator_df: int
    denominator_df: float
    #: Wald/q with Φ_A (pbkrtest's ``FstatU``)
    f_unscaled: float
    #: pbkrtest's ``F.scaling`` (1 where df2 ≈ 2)
    scaling: float

    @property
    def f_value(self) -> float:
        return self.scaling * self.f_unscaled

    @property
    def p_value(self) -> float:
        from scipy.special import fdtrc  # F tail; scipy.stats would add 0.3 s

        return float(fdtrc(self.numerator_df, self.denominator_df, self.f_value))


def _moments(
    L: np.ndarray, Phi: np.ndarray, P: np.ndarray, W: np.ndarray, rows: bool
) -> tuple[float, float, int]:
    """df2, F scaling and q of contrast ``L`` (Kenward & Roger §4; pbkrtest's ``Lb_ddf``,
    whose q is L's number of rows, or ``.KR_adjust``, whose q is L's rank)."""
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    u = np.einsum("ab,mbc,cd->mad", Theta @ Phi, P, Phi)  # Θ Φ P_i Φ
    traces = np.einsum("maa->m", u)
    products = np.einsum("iab,jba->ij", u, u)  # tr(u_i u_j)
    A1 = float(np.sum(W * np.outer(traces, traces)))
    A2 = float(np.sum(W * products))
    q = L.shape[0] if rows else int(np.linalg.matrix_rank(L))
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    c1 = g / (3 * q + 2 * (1 - g))
    c2 = (q - g) / (3 * q + 2 * (1 - g))
    c3 = (q + 2 - g) / (3 * q + 2 * (1 - g))
    V0 = 1 + c1 * B
    V1 = 1 - c2 * B
    V2 = 1 - c3 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    ratio = 1.0 if abs(1 - A2 / q) < 1e-14 and abs(V1) < 1e-14 else (1 - A2 / q) / V1
    rho = ratio**2 * V0 / V2 / q
    df2 = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
    return df2, scaling, q


def kenward_roger(result: LmmResult) -> KenwardRogerAdjustment:
    """Φ_A and the ingredients of every contrast's df at a REML fit (see the module)."""
    if not result.reml:
        raise ModelSpecificationError(
            "Kenward-Roger's method is defined for REML fits (as lmerTest says): refit without --ml"
        )
    d = result.design
    X, Z, index = d.X, d.Z, d.group_index
    J, q, p = len(d.group_levels), Z.shape[1], X.shape[1]
    n = len(d.y)
    sigma2 = result.sigma2
    T = relative_covariance_factor(result.theta, q)

    def per_group(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        products = np.einsum("na,nb->nab", a, b).reshape(n, -1)
        return group_sums(products, index, J).reshape(J, a.shape[1], b.shape[1])

    Wg = per_group(Z, Z)  # Z_j'Z_j (J, q, q)
    U = per_group(Z, X)  # Z_j'X_j (J, q, p)
    XX = X.T @ X
    sizes = np.bincount(index, minlength=J).astype(float)
    C = np.einsum("ca,jcd,db->jab", T, Wg, T) + np.eye(q)
    F1 = -np.einsum("ab,jbc,dc->jad", T, np.linalg.inv(C), T)  # −T C_j⁻¹ T'
    FW = F1 @ Wg
    F2 = 2 * F1 + FW @ F1
    F3 = F2 + F1 + F2 @ Wg @ F1

    def x_x(F: np.ndarray) -> np.ndarray:  # X'(I + Z F Z')X summed over the groups
        return XX + np.einsum("jap,jab,jbr->pr", U, F, U)

    s2, s4, s6 = sigma2, sigma2**2, sigma2**3
    XSX = x_x(F1) / s2
    XS2X = x_x(F2) / s4
    XS3X = x_x(F3) / s6
    ZSX = (U + Wg @ F1 @ U) / s2  # (J, q, p)
    ZSZ = (Wg + Wg @ F1 @ Wg) / s2
    ZS2X = (U + Wg @ F2 @ U) / s4
    ZS2Z = (Wg + Wg @ F2 @ Wg) / s4
    trS2 = float(np.sum(sizes + np.einsum("jab,jba->j", F2, Wg))) / s4

    rows, cols = theta_layout(q)
    free = result.specification.free_theta(q)
    pairs = [(int(rows[k]), int(cols[k])) for k in free]
    names = [f"cov({result.random_names[a]}, {result.random_names[b]})" for a, b in pairs]
    E = np.zeros((len(pairs), q, q))
    for r, (a, b) in enumerate(pairs):
        E[r, a, b] = E[r, b, a] = 1.0
    k = len(pairs)
    m = k + 1

    # P_r and Q_rs, the random parameters first, the residual last.
    ZSX_E = np.einsum("rab,jbp->jrap", E, ZSX)  # E_r Z_j'Σ⁻¹X_j
    P = np.empty((m, p, p))
    P[:k] = -np.einsum("jap,jraq->rpq", ZSX, ZSX_E)
    P[k] = -XS2X
    Q = np.empty((m, m, p, p))
    middle = np.einsum("rab,jbc->jrac", E, ZSZ)  # E_r Z'Σ⁻¹Z
    Q[:k, :k] = np.einsum("jap,jrab,jsbq->rspq", ZSX, middle, ZSX_E)
    Q[:k, k] = np.einsum("jap,rab,jbq->rpq", ZSX, E, ZS2X)
    Q[k, :k] = np.transpose(Q[:k, k], (0, 2, 1))
    Q[k, k] = XS3X
    K = np.empty((m, m))
    K[:k, :k] = np.einsum("jrab,jsba->rs", middle, middle)
    K[:k, k] = K[k, :k] = np.einsum("rab,jba->r", E, ZS2Z)
    K[k, k] = trS2

    Phi = np.linalg.inv(XSX)
    Phi = (Phi + Phi.T) / 2
    PhiP = np.einsum("ab,rbc->rac", Phi, P)
    information = K - 2 * np.einsum("ab,rsba->rs", Phi, Q) + np.einsum("rab,sba->rs", PhiP, PhiP)
    information = (information + information.T) / 2
    condition = float(np.min(np.abs(np.linalg.eigvalsh(information))))
    W = 2 * (
        np.linalg.inv(information)
        if condition > INFORMATION_CONDITION
        else np.linalg.pinv(information)
    )
    W = (W + W.T) / 2
    PPhiP = np.einsum("rab,bc,scd->rsad", P, Phi, P)
    Usum = np.einsum("rs,rspq->pq", W, Q - PPhiP)
    adjusted = Phi + 2 * Phi @ Usum @ Phi
    adjusted = (adjusted + adjusted.T) / 2
    return KenwardRogerAdjustment(
        vcov=Phi, vcov_adjusted=adjusted, P=P, W=W, parameters=(*names, "residual")
    )


def kenward_roger_table(
    result: LmmResult, adjustment: KenwardRogerAdjustment | None = None
) -> list[TTestRow]:
    """Each fixed effect's KR-adjusted SE, df, t and p (lmerTest's ``contest1D``: the SE
    from Φ_A, the df from Φ and Φ_A's ingredients); ``adjustment``: the fit's, when
    already computed."""
    from scipy.special import stdtr  # t tail; scipy.stats would add 0.3 s

    adjustment = kenward_roger(result) if adjustment is None else adjustment
    beta = result.solution.beta
    out = []
    for j, name in enumerate(result.fixed_names):
        L = np.zeros(len(beta))
        L[j] = 1.0
        se = math.sqrt(float(adjustment.vcov_adjusted[j, j]))
        df = adjustment.df(L)
        t_value = float(beta[j]) / se
        p_value = float(2.0 * stdtr(df, -abs(t_value)))
        out.append(TTestRow(name, float(beta[j]), se, df, t_value, p_value))
    return out

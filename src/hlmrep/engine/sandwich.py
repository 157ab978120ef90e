"""Cluster-robust ("sandwich") standard errors of the fixed effects, as HLM prints them.

HLM prints, beside the model-based standard errors, "Final estimation of fixed effects
(with robust standard errors)" (Raudenbush & Bryk 2002, pp. 276–280): the Huber–White
estimator with the schools as clusters and the fitted model's covariance as the working
weights,

    V_R = B (Σ_j X_j' V̂_j⁻¹ e_j e_j' V̂_j⁻¹ X_j) B,   B = (Σ_j X_j' V̂_j⁻¹ X_j)⁻¹,

with e_j = y_j − X_j β̂ the marginal residuals of school j.  That is clubSandwich's
``vcovCR(fit, type = "CR0")`` for an lme4 fit; HLM's robust SE of γ00 in Table 4.2 is
0.243628.  It stays consistent when the random part is misspecified, which is why HLM
shows both: where they disagree, the model's covariance assumptions are in doubt.

Everything comes from per-school cross-products: with V_j = σ²(I + Z_j T T' Z_j') and
A_j = T'Z_j'Z_j T + I, Woodbury gives X_j'V_j⁻¹W = σ⁻²(X_j'W − X_j'Z_j T A_j⁻¹ T'Z_j'W) for
W = X_j or e_j; σ² cancels from V_R, so it is never needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hlmrep.engine.deviance import group_sums, relative_covariance_factor
from hlmrep.errors import ModelSpecificationError

if TYPE_CHECKING:
    from hlmrep.engine.model import LmmResult


def robust_vcov(result: LmmResult) -> np.ndarray:
    """The CR0 cluster-robust covariance of β̂ (HLM's robust SEs; clubSandwich's CR0)."""
    d = result.design
    J, q = len(d.group_levels), len(result.random_names)
    X, Z, y, index = d.X, d.Z, d.y, d.group_index
    p = X.shape[1]
    T = relative_covariance_factor(result.theta, q)
    e = y - X @ result.solution.beta
    # Per-school cross-products: X'X (J, p, p), Z'X (J, q, p), X'e (J, p), Z'e (J, q), Z'Z.
    XtX = group_sums(np.einsum("na,nb->nab", X, X).reshape(len(y), -1), index, J).reshape(J, p, p)
    ZtX = group_sums(np.einsum("na,nb->nab", Z, X).reshape(len(y), -1), index, J).reshape(J, q, p)
    ZtZ = group_sums(np.einsum("na,nb->nab", Z, Z).reshape(len(y), -1), index, J).reshape(J, q, q)
    Xte = group_sums(X * e[:, None], index, J)
    Zte = group_sums(Z * e[:, None], index, J)
    A = np.einsum("ca,jcd,db->jab", T, ZtZ, T) + np.eye(q)  # T'Z_j'Z_jT + I
    TtZtX = np.einsum("ca,jcp->jap", T, ZtX)  # (J, q, p)
    TtZte = np.einsum("ca,jc->ja", T, Zte)  # (J, q)
    solved_X = np.linalg.solve(A, TtZtX)  # A_j⁻¹ T'Z_j'X_j
    solved_e = np.linalg.solve(A, TtZte[:, :, None])[:, :, 0]
    # σ²·X_j'V_j⁻¹X_j and σ²·X_j'V_j⁻¹e_j
    XtVX = XtX - np.einsum("jap,jar->jpr", TtZtX, solved_X)
    XtVe = Xte - np.einsum("jap,ja->jp", TtZtX, solved_e)
    bread = np.linalg.inv(XtVX.sum(axis=0))
    meat = np.einsum("jp,jr->pr", XtVe, XtVe)
    return bread @ meat @ bread


def robust_standard_errors(result: LmmResult) -> np.ndarray:
    """√diag of :func:`robust_vcov`, in the order of the fixed effects."""
    return np.sqrt(np.diag(robust_vcov(result)))


@dataclass(frozen=True)
class CR2Row:
    """One fixed effect as clubSandwich's ``coef_test(fit, vcov = "CR2")`` prints it."""

    term: str
    estimate: float
    std_error: float
    t_value: float
    df: float
    p_value: float

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


#: clubSandwich's ``matrix_power``: eigenvalues at or below this count as 0.
EIGEN_FLOOR = 1e-12
#: Rows of the largest group CR2 works with: its matrices are n_j × n_j, as clubSandwich's.
MAX_GROUP_ROWS = 5000


def cr2_table(result: LmmResult) -> tuple[np.ndarray, list[CR2Row]]:
    """The CR2 ("bias-reduced linearization") cluster-robust covariance of β̂ and each
    coefficient's t test with Bell and McCaffrey's Satterthwaite df, as clubSandwich's
    ``vcovCR(fit, type = "CR2")`` and ``coef_test(fit, vcov = "CR2")`` compute them for an
    lmer fit (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018, JBES 36(4), §3).

    With the fitted model as the working model (clubSandwich's ``inverse_var``): Θ_j =
    I + Z_jTT'Z_j' (V_j/σ²), W_j = Θ_j⁻¹, M = (Σ X_j'W_jX_j)⁻¹, and the adjustment
    A_j = R_j' (R_j (I − X_jMX_j'W_j) Θ_j R_j')^{-1/2} R_j (R_j'R_j = Θ_j) makes the meat
    unbiased under the working model: V_CR2 = M (Σ X_j'W_jA_je_je_j'A_jW_jX_j) M.  The df of
    coefficient i are 2E²/V of the quadratic form's weights P_i = D_i − H_i H_i'
    (clubSandwich's ``get_GH``/``get_P_array``), computed here without the J × J matrix:
    tr P_i = Σ_j (d_j − |h_j|²) and Σ P_i² = tr((H_i'H_i)²) − 2 Σ_j d_j |h_j|² + Σ_j d_j².
    """
    from scipy.special import stdtr  # t tail; scipy.stats would add 0.3 s

    d = result.design
    J, q = len(d.group_levels), len(result.random_names)
    X, Z, y, index = d.X, d.Z, d.y, d.group_index
    p = X.shape[1]
    sizes = np.bincount(index, minlength=J)
    if sizes.max() > MAX_GROUP_ROWS:
        raise ModelSpecificationError(
            f"CR2 works with n_j × n_j matrices, as clubSandwich does; the largest group "
            f"has {sizes.max()} rows (at most {MAX_GROUP_ROWS})"
        )
    T = relative_covariance_factor(result.theta, q)
    beta = result.solution.beta
    e = y - X @ beta
    order = np.argsort(index, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    groups = []
    XtWX = np.zeros((p, p))
    for j in range(J):
        rows = order[starts[j] : starts[j + 1]]
        Xj, Zj = X[rows], Z[rows] @ T
        Theta = Zj @ Zj.T + np.eye(len(rows))
        W = np.linalg.inv(Theta)
        W = (W + W.T) / 2
        XtWX += Xj.T @ W @ Xj
        groups.append((Xj, e[rows], Theta, W))
    M = np.linalg.inv(XtWX)
    M = (M + M.T) / 2
    L_M = np.linalg.cholesky(M)
    meat = np.zeros((p, p))
    H = np.empty((J, p, p))  # H_j = M E_j X_j L_M
    D = np.empty((J, p))  # d_j: the row sums of squares of M E_j R_j'
    for j, (Xj, ej, Theta, W) in enumerate(groups):
        R = np.linalg.cholesky(Theta).T  # upper: R'R = Θ_j
        IH = np.eye(len(ej)) - Xj @ M @ Xj.T @ W
        G = R @ IH @ Theta @ R.T
        values, vectors = np.linalg.eigh((G + G.T) / 2)
        positive = values > EIGEN_FLOOR
        root = np.where(positive, 1.0 / np.sqrt(np.where(positive, values, 1.0)), 0.0)
        A = R.T @ (vectors * root) @ vectors.T @ R
        E = Xj.T @ W @ A  # (p, n_j)
        c = E @ ej
        meat += np.outer(c, c)
        ME = M @ E
        H[j] = ME @ Xj @ L_M
        D[j] = np.square(ME @ R.T) @ np.ones(len(ej))
    vcov = M @ meat @ M
    vcov = (vcov + vcov.T) / 2
    rows_out = []
    for i, name in enumerate(result.fixed_names):
        h = H[:, i, :]  # (J, p): h_j
        norms = np.square(h) @ np.ones(p)
        HtH = h.T @ h
        # Sums by BLAS products and math.fsum, never NumPy's reductions, whose SIMD
        # accumulation order differs from one CPU to another (the results must not).
        trace = math.fsum(D[:, i] - norms)
        squares = (
            math.fsum(np.square(HtH).ravel())
            - 2 * math.fsum(D[:, i] * norms)
            + math.fsum(np.square(D[:, i]))
        )
        df = trace**2 / squares if squares > 0 else math.inf
        se = math.sqrt(float(vcov[i, i]))
        t_value = float(beta[i]) / se
        p_value = float(2.0 * stdtr(df, -abs(t_value)))
        rows_out.append(CR2Row(name, float(beta[i]), se, t_value, df, p_value))
    return vcov, rows_out

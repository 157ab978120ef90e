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

from typing import TYPE_CHECKING

import numpy as np

from hlmrep.engine.deviance import group_sums, relative_covariance_factor

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

"""lme4's profiled deviance for a model with one grouping factor, on per-group cross-products.

Notation follows Bates, Mächler, Bolker & Walker (2015), "Fitting linear mixed-effects
models using lme4", J. Stat. Softw. 67(1), section 3:

    y = X β + Z b + ε,   b = Λ(θ) u,   u ~ N(0, σ² I),   ε ~ N(0, σ² I).

With one grouping factor of J levels and q random terms, Λ(θ) = I_J ⊗ T(θ), T lower
triangular with θ its lower triangle in column-major order (lme4's order) and its
diagonal bounded below by 0.  The sparse Cholesky factor L of Λ'Z'ZΛ + I is then block
diagonal, one q×q block per group, and the penalized least-squares problem reduces to

    L_j L_j' = T' Z_j'Z_j T + I                     (eq. 18, per group)
    R_ZX,j   = L_j⁻¹ T' Z_j'X_j,   c_u,j = L_j⁻¹ T' Z_j'y_j
    R_X'R_X  = X'X − Σ_j R_ZX,j' R_ZX,j              (Schur complement)
    r²(θ)    = y'y − Σ_j |c_u,j|² − c_β'c_β           (penalized RSS)

so one evaluation costs O(J·q³ + J·q²·p + p³), independent of the number of rows.  The
Schur complement is formed for [X y] at once; its Cholesky factor's last diagonal element
is r(θ), which saves a separate solve for β.

    ML deviance     −2ℓ(θ)   = log|L|² + n [1 + log(2π r²/n)]                (eq. 34)
    REML criterion  −2ℓ_R(θ) = log|L|² + log|R_X|² + (n−p)[1 + log(2π r²/(n−p))]  (eq. 41)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from hlmrep.engine import kernel

LOG_2PI = float(np.log(2.0 * np.pi))


@functools.cache
def theta_layout(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each θ element in T: lower triangle, column-major (lme4's order)."""
    rows, cols = [], []
    for col in range(q):
        for row in range(col, q):
            rows.append(row)
            cols.append(col)
    return np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)


def theta_lower_bounds(q: int) -> np.ndarray:
    """0 for diagonal elements of T, −∞ for the others (lme4's ``lower``)."""
    rows, cols = theta_layout(q)
    return np.where(rows == cols, 0.0, -np.inf)


def theta_start(q: int) -> np.ndarray:
    """lme4's default start: T = I."""
    rows, cols = theta_layout(q)
    return (rows == cols).astype(float)


def relative_covariance_factor(theta: np.ndarray, q: int) -> np.ndarray:
    """The q×q lower-triangular relative covariance factor T(θ)."""
    rows, cols = theta_layout(q)
    T = np.zeros((q, q))
    T[rows, cols] = theta
    return T


def canonical_theta(theta: np.ndarray, q: int) -> np.ndarray:
    """The same covariance with T's diagonal made ≥ 0.

    Negating a column of T leaves TT' (and the deviance) unchanged, so an optimizer may run
    without bounds and hand back any sign pattern; this maps it to lme4's convention.
    """
    T = relative_covariance_factor(theta, q)
    signs = np.where(np.diag(T) < 0.0, -1.0, 1.0)
    rows, cols = theta_layout(q)
    return (T * signs[None, :])[rows, cols]


@dataclass(frozen=True)
class CrossProducts:
    """Per-group sufficient statistics of (y, X, Z): all the deviance ever reads.

    Stored component-major, the random-effect index first and the group index J next, so
    that every per-group operation in :func:`decompose` is an elementwise operation on a
    contiguous slab of J values:

    - ``ZtZ[a, b, j] = (Z_j'Z_j)[a, b]``
    - ``ZtXy[a, j, k] = (Z_j'[X_j y_j])[a, k]``
    - ``XytXy = [X y]'[X y]``

    Keeping y as the last column lets a parametric bootstrap replace only the y-parts.
    """

    ZtZ: np.ndarray  # (q, q, J)
    ZtXy: np.ndarray  # (q, J, p + 1)
    XytXy: np.ndarray  # (p + 1, p + 1)
    n: int

    @property
    def q(self) -> int:
        return self.ZtZ.shape[0]

    @property
    def p(self) -> int:
        return self.XytXy.shape[0] - 1

    @property
    def n_groups(self) -> int:
        return self.ZtZ.shape[2]


def group_sums(values: np.ndarray, group_index: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the rows of ``values`` (n, ...) within groups, returning (n_groups, ...).

    One ``bincount`` per column: faster than ``np.add.at`` and with a fixed summation
    order, so the same data always give bit-identical cross-products.
    """
    flat = values.reshape(values.shape[0], -1)
    out = np.empty((n_groups, flat.shape[1]))
    for k in range(flat.shape[1]):
        out[:, k] = np.bincount(group_index, weights=flat[:, k], minlength=n_groups)
    return out.reshape((n_groups, *values.shape[1:]))


def cross_products(
    X: np.ndarray, Z: np.ndarray, y: np.ndarray, group_index: np.ndarray, n_groups: int
) -> CrossProducts:
    """Form the per-group cross-products once; O(n·q·p)."""
    Xy = np.column_stack([X, y])
    ZtZ = group_sums(Z[:, :, None] * Z[:, None, :], group_index, n_groups)  # (J, q, q)
    ZtXy = group_sums(Z[:, :, None] * Xy[:, None, :], group_index, n_groups)  # (J, q, k)
    return CrossProducts(
        ZtZ=np.ascontiguousarray(ZtZ.transpose(1, 2, 0)),
        ZtXy=np.ascontiguousarray(ZtXy.transpose(1, 0, 2)),
        XytXy=Xy.T @ Xy,
        n=len(y),
    )


def cholesky_components(A: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of J small SPD matrices stored as A[..., a, b, j].

    Loops over the q×q entries and vectorizes over the J groups (and any leading batch
    axes): at q ≤ 4 this is many times faster than a stacked ``np.linalg.cholesky``, whose
    per-call overhead dominates.  A = T'Z'ZT + I is positive definite for every θ, so no
    pivot can be ≤ 0 except by overflow, and then the NaN from ``sqrt`` makes the deviance
    +inf.
    """
    q = A.shape[-2]
    L = np.zeros_like(A)
    for col in range(q):
        pivot = A[..., col, col, :].copy()
        for m in range(col):
            pivot -= L[..., col, m, :] * L[..., col, m, :]
        diag = np.sqrt(pivot)
        L[..., col, col, :] = diag
        for row in range(col + 1, q):
            value = A[..., row, col, :].copy()
            for m in range(col):
                value -= L[..., row, m, :] * L[..., col, m, :]
            L[..., row, col, :] = value / diag
    return L


def forward_solve_components(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve L_j X_j = B_j for all j; L (..., q, q, J), B and X (..., q, J, k)."""
    q = L.shape[-2]
    X = np.empty_like(B)
    for row in range(q):
        rhs = B[..., row, :, :].copy()
        for m in range(row):
            rhs -= L[..., row, m, :, None] * X[..., m, :, :]
        X[..., row, :, :] = rhs / L[..., row, row, :, None]
    return X


def back_solve_components(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve L_j' X_j = B_j for all j; L (..., q, q, J), B and X (..., q, J, k)."""
    q = L.shape[-2]
    X = np.empty_like(B)
    for row in reversed(range(q)):
        rhs = B[..., row, :, :].copy()
        for m in range(row + 1, q):
            rhs -= L[..., m, row, :, None] * X[..., m, :, :]
        X[..., row, :, :] = rhs / L[..., row, row, :, None]
    return X


@dataclass(frozen=True)
class Decomposition:
    """The pieces of one penalized least-squares solve at θ."""

    theta: np.ndarray
    T: np.ndarray
    L: np.ndarray  # (q, q, J): lower Cholesky factors of T'Z_j'Z_jT + I
    RZXy: np.ndarray  # (q, J, p + 1): [R_ZX,j  c_u,j]
    schur_chol: np.ndarray  # (p + 1, p + 1) lower Cholesky factor of the Schur complement
    log_det_L: float  # log|L|² = Σ_j 2 Σ log diag(L_j)
    log_det_RX: float  # log|R_X|²
    pwrss: float  # r²(θ), the penalized weighted residual sum of squares


def decompose(theta: np.ndarray, cp: CrossProducts) -> Decomposition:
    """Solve the penalized least-squares problem at θ (see the module docstring).

    T'Z_j'Z_jT for all j is one matrix product with T ⊗ T, and T'Z_j'[X_j y_j] one product
    with T'; the rest are elementwise loops over q.  No per-group Python loop and no
    stacked LAPACK call: one evaluation costs a few dozen vector operations of length J.
    """
    q, J = cp.q, cp.n_groups
    k = cp.p + 1
    T = relative_covariance_factor(theta, q)
    T_kron_T = (T[:, None, :, None] * T[None, :, None, :]).reshape(q * q, q * q)
    A = (T_kron_T.T @ cp.ZtZ.reshape(q * q, J)).reshape(q, q, J)
    for a in range(q):
        A[a, a] += 1.0
    L = cholesky_components(A)
    TtZtXy = (T.T @ cp.ZtXy.reshape(q, J * k)).reshape(q, J, k)
    RZXy = forward_solve_components(L, TtZtXy)
    flat = RZXy.reshape(q * J, k)
    schur = cp.XytXy - flat.T @ flat
    # NumPy's Cholesky (LAPACK potrf, as scipy's dpotrf gave: the same bits on HSB and on
    # 16 000 random matrices) keeps scipy.linalg out of the jobs' imports.
    schur_chol = np.linalg.cholesky(schur)  # LinAlgError if not positive definite
    diag = np.diagonal(schur_chol)
    log_det_L = 0.0
    for a in range(q):
        log_det_L += float(np.log(L[a, a]).sum())
    return Decomposition(
        theta=np.asarray(theta, dtype=float),
        T=T,
        L=L,
        RZXy=RZXy,
        schur_chol=schur_chol,
        log_det_L=2.0 * log_det_L,
        log_det_RX=2.0 * float(np.log(diag[: cp.p]).sum()),
        pwrss=float(diag[cp.p] ** 2),
    )


def criterion_from(dec: Decomposition, n: int, p: int, reml: bool) -> float:
    """REML criterion or ML deviance (lme4's ``devfun``) from a decomposition."""
    if reml:
        dof = n - p
        return dec.log_det_L + dec.log_det_RX + dof * (1.0 + LOG_2PI + np.log(dec.pwrss / dof))
    return dec.log_det_L + n * (1.0 + LOG_2PI + np.log(dec.pwrss / n))


def profiled_deviance_reference(theta: np.ndarray, cp: CrossProducts, reml: bool) -> float:
    """The criterion from :func:`decompose`: readable NumPy, the kernel's reference."""
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            dec = decompose(theta, cp)
            value = criterion_from(dec, cp.n, cp.p, reml)
    except np.linalg.LinAlgError:
        return float("inf")
    return float(value) if np.isfinite(value) else float("inf")


def profiled_deviance(theta: np.ndarray, cp: CrossProducts, reml: bool) -> float:
    """The objective lme4 minimizes over θ (compiled kernel); +inf where it is undefined."""
    rows, cols = theta_layout(cp.q)
    value = kernel.deviance(
        # A writable copy: NLopt hands in read-only arrays, which would compile a second
        # specialization of the kernel.
        np.array(theta, dtype=np.float64),
        rows,
        cols,
        cp.ZtZ,
        cp.ZtXy,
        cp.XytXy,
        cp.n,
        reml,
    )
    return value if math.isfinite(value) else math.inf


def profiled_deviance_batch(thetas: np.ndarray, cp: CrossProducts, reml: bool) -> np.ndarray:
    """:func:`profiled_deviance` at each row of ``thetas`` (one compiled call)."""
    rows, cols = theta_layout(cp.q)
    thetas = np.ascontiguousarray(np.atleast_2d(thetas), dtype=np.float64)
    values = kernel.deviance_batch(thetas, rows, cols, cp.ZtZ, cp.ZtXy, cp.XytXy, cp.n, reml)
    return np.where(np.isfinite(values), values, np.inf)


@dataclass(frozen=True)
class Solution:
    """Estimates at θ: β, σ², the conditional modes and their conditional variances."""

    beta: np.ndarray
    sigma2: float
    vcov_beta: np.ndarray
    b: np.ndarray  # (J, q) conditional modes of the random effects (BLUPs / EB estimates)
    b_cond_var: np.ndarray  # (J, q, q) conditional covariance of b_j given β, σ, θ
    random_cov: np.ndarray  # (q, q) estimated covariance of the random effects
    criterion: float
    decomposition: Decomposition


def solve_at(theta: np.ndarray, cp: CrossProducts, reml: bool) -> Solution:
    """Recover every estimate at θ, as lme4 does after the optimizer returns."""
    dec = decompose(theta, cp)
    p, q = cp.p, cp.q
    RX_lower = dec.schur_chol[:p, :p]  # R_X' (lower)
    c_beta = dec.schur_chol[p, :p]  # R_X' c_β = ... ; row p holds c_β'
    beta = np.linalg.solve(RX_lower.T, c_beta)
    sigma2 = dec.pwrss / (cp.n - p if reml else cp.n)
    RX_inv = np.linalg.inv(RX_lower.T)
    vcov_beta = sigma2 * RX_inv @ RX_inv.T
    J = cp.n_groups
    rhs = dec.RZXy[:, :, p] - dec.RZXy[:, :, :p] @ beta  # c_u,j − R_ZX,j β, as (q, J)
    u = back_solve_components(dec.L, rhs[:, :, None])[:, :, 0]  # (q, J)
    b = (dec.T @ u).T  # (J, q)
    # Var(b_j | y) = σ² T (L_j L_j')⁻¹ T' = σ² (T L_j'⁻¹)(T L_j'⁻¹)'
    eye = np.broadcast_to(np.eye(q)[:, None, :], (q, J, q)).copy()
    L_t_inv = back_solve_components(dec.L, eye)  # L_t_inv[a, j, c] = (L_j'⁻¹)[a, c]
    TLinv = np.einsum("ab,bjc->jac", dec.T, L_t_inv)  # (J, q, q): T L_j'⁻¹
    b_cond_var = sigma2 * TLinv @ np.swapaxes(TLinv, 1, 2)
    return Solution(
        beta=beta,
        sigma2=float(sigma2),
        vcov_beta=vcov_beta,
        b=b,
        b_cond_var=b_cond_var,
        random_cov=sigma2 * dec.T @ dec.T.T,
        criterion=float(criterion_from(dec, cp.n, p, reml)),
        decomposition=dec,
    )

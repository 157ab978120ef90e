"""The profiled deviance compiled with numba: the optimizer's hot loop.

Same algebra as :func:`hlmrep.deviance.decompose` and :func:`hlmrep.deviance.criterion_from`
(the readable reference, which the tests hold this kernel equal to), written as plain loops
over groups so that numba compiles it: one evaluation for HSB's model3 costs a few
microseconds instead of ~100 µs of NumPy call overhead.  Only the criterion is computed
here; estimates at the optimum come from the reference implementation.
"""

from __future__ import annotations

import math

import numba
import numpy as np

LOG_2PI = math.log(2.0 * math.pi)


@numba.njit(cache=True)
def _cholesky_in_place(A: np.ndarray) -> bool:
    """Lower Cholesky factor of a small SPD matrix, in place; False if not PD."""
    m = A.shape[0]
    for col in range(m):
        pivot = A[col, col]
        for k in range(col):
            pivot -= A[col, k] * A[col, k]
        if not pivot > 0.0:
            return False
        diag = math.sqrt(pivot)
        A[col, col] = diag
        for row in range(col + 1, m):
            value = A[row, col]
            for k in range(col):
                value -= A[row, k] * A[col, k]
            A[row, col] = value / diag
        for row in range(col):
            A[row, col] = 0.0
    return True


@numba.njit(cache=True)
def _factor(
    theta: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    ZtZ: np.ndarray,
    ZtXy: np.ndarray,
    XytXy: np.ndarray,
) -> tuple[np.ndarray, float, bool]:
    """Cholesky factor of the Schur complement of [X y] and log|L|² at θ (ok = False: failed).

    ZtZ (q, q, J), ZtXy (q, J, p + 1), XytXy (p + 1, p + 1): the layout of
    :class:`hlmrep.deviance.CrossProducts`.  Every inner loop runs over the J groups, which
    are independent, so the compiler vectorizes and pipelines them instead of waiting on
    one group's chain of divisions and square roots after another.
    """
    q, J = ZtZ.shape[0], ZtZ.shape[2]
    k = XytXy.shape[0]
    T = np.zeros((q, q))
    for i in range(theta.shape[0]):
        T[rows[i], cols[i]] = theta[i]

    # A_j = T' G_j T + I, lower triangle, component-major (q, q, J)
    A = np.zeros((q, q, J))
    for a in range(q):
        for b in range(a + 1):
            for c in range(q):
                for d in range(q):
                    w = T[c, a] * T[d, b]
                    if w != 0.0:
                        for j in range(J):
                            A[a, b, j] += w * ZtZ[c, d, j]
        for j in range(J):
            A[a, a, j] += 1.0

    # Cholesky factors L_j, overwriting A's lower triangle; reciprocal pivots kept.
    inverse = np.empty((q, J))
    for col in range(q):
        for j in range(J):
            pivot = A[col, col, j]
            for m in range(col):
                pivot -= A[col, m, j] * A[col, m, j]
            if not pivot > 0.0:
                return XytXy.copy(), np.inf, False
            diag = math.sqrt(pivot)
            A[col, col, j] = diag
            inverse[col, j] = 1.0 / diag
        for row in range(col + 1, q):
            for j in range(J):
                value = A[row, col, j]
                for m in range(col):
                    value -= A[row, m, j] * A[col, m, j]
                A[row, col, j] = value * inverse[col, j]

    # log|L|²: Π of the diagonals (each ≥ 1, as A_j ≥ I), logged only when large.
    log_det_L = 0.0
    det_product = 1.0
    for a in range(q):
        for j in range(J):
            det_product *= A[a, a, j]
            if det_product > 1e250:
                log_det_L += math.log(det_product)
                det_product = 1.0
    log_det_L = 2.0 * (log_det_L + math.log(det_product))

    # R_j = L_j⁻¹ T' Z_j'[X_j y_j], component-major (q, J, k)
    R = np.zeros((q, J, k))
    for a in range(q):
        for c in range(q):
            w = T[c, a]
            if w != 0.0:
                for j in range(J):
                    for col in range(k):
                        R[a, j, col] += w * ZtXy[c, j, col]
        for m in range(a):
            for j in range(J):
                factor = A[a, m, j]
                for col in range(k):
                    R[a, j, col] -= factor * R[m, j, col]
        for j in range(J):
            for col in range(k):
                R[a, j, col] *= inverse[a, j]

    # Schur complement of [X y]: S = [X y]'[X y] − Σ_j R_j'R_j, one matrix product.
    flat = R.reshape(q * J, k)
    S = XytXy - flat.T @ flat
    ok = _cholesky_in_place(S)
    return S, log_det_L, ok


@numba.njit(cache=True)
def deviance(
    theta: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    ZtZ: np.ndarray,
    ZtXy: np.ndarray,
    XytXy: np.ndarray,
    n: int,
    reml: bool,
) -> float:
    """REML criterion or ML deviance at θ; +inf where a factorization fails."""
    S, log_det_L, ok = _factor(theta, rows, cols, ZtZ, ZtXy, XytXy)
    if not ok:
        return np.inf
    p = XytXy.shape[0] - 1
    pwrss = S[p, p] * S[p, p]
    if reml:
        log_det_RX = 0.0
        for a in range(p):
            log_det_RX += 2.0 * math.log(S[a, a])
        dof = n - p
        return log_det_L + log_det_RX + dof * (1.0 + LOG_2PI + math.log(pwrss / dof))
    return log_det_L + n * (1.0 + LOG_2PI + math.log(pwrss / n))


@numba.njit(cache=True)
def beta_and_pwrss(
    theta: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    ZtZ: np.ndarray,
    ZtXy: np.ndarray,
    XytXy: np.ndarray,
) -> tuple[np.ndarray, float]:
    """β̂(θ) and the penalized RSS r²(θ): R_X'β = c_β from the Schur factor's last row."""
    S, _, ok = _factor(theta, rows, cols, ZtZ, ZtXy, XytXy)
    p = XytXy.shape[0] - 1
    beta = np.full(p, np.nan)
    if not ok:
        return beta, np.nan
    for a in range(p - 1, -1, -1):
        value = S[p, a]
        for m in range(a + 1, p):
            value -= S[m, a] * beta[m]
        beta[a] = value / S[a, a]
    return beta, S[p, p] * S[p, p]


@numba.njit(cache=True)
def add_random_part(
    mean: np.ndarray, Z: np.ndarray, group: np.ndarray, b: np.ndarray, noise: np.ndarray
) -> np.ndarray:
    """y = mean + Σ_a Z[i, a]·b[group[i], a] + noise[i], one pass over the rows."""
    n, q = Z.shape
    y = np.empty(n)
    for i in range(n):
        value = mean[i] + noise[i]
        g = group[i]
        for a in range(q):
            value += Z[i, a] * b[g, a]
        y[i] = value
    return y


@numba.njit(cache=True)
def deviance_batch(
    thetas: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    ZtZ: np.ndarray,
    ZtXy: np.ndarray,
    XytXy: np.ndarray,
    n: int,
    reml: bool,
) -> np.ndarray:
    """:func:`deviance` at each row of ``thetas``."""
    out = np.empty(thetas.shape[0])
    for i in range(thetas.shape[0]):
        out[i] = deviance(thetas[i], rows, cols, ZtZ, ZtXy, XytXy, n, reml)
    return out

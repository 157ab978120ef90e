"""The profiled deviance compiled with numba: the optimizer's hot loop.

Same algebra as :func:`hlmrep.engine.deviance.decompose` and
:func:`hlmrep.engine.deviance.criterion_from` (the readable reference, which the tests
hold this kernel equal to), written as plain loops over groups so that numba compiles
it: one evaluation for HSB's model3 costs a few microseconds instead of ~100 µs of NumPy
call overhead.  Only the criterion is computed here; estimates at the optimum come from
the reference implementation.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from hlmrep.engine import kernel_cache

# numba's cache of these kernels lives in the user's cache folder, shared by every checkout
# of the same source (:mod:`hlmrep.engine.kernel_cache`): before the first @njit below.
kernel_cache.install()

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
    :class:`hlmrep.engine.deviance.CrossProducts`.  Every inner loop runs over the J groups, which
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
    pivot = np.empty(J)
    for col in range(q):
        for j in range(J):
            value = A[col, col, j]
            for m in range(col):
                value -= A[col, m, j] * A[col, m, j]
            pivot[j] = value
        # Checked apart from the square roots, so that their loop has no exit and vectorizes.
        for j in range(J):
            if not pivot[j] > 0.0:
                return XytXy.copy(), np.inf, False
        for j in range(J):
            diag = math.sqrt(pivot[j])
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

    # R_j = L_j⁻¹ T' Z_j'[X_j y_j], stored (q, k, J) so that the group loop is innermost.
    R = np.zeros((q, k, J))
    for a in range(q):
        for c in range(q):
            w = T[c, a]
            if w != 0.0:
                for col in range(k):
                    for j in range(J):
                        R[a, col, j] += w * ZtXy[c, j, col]
        for m in range(a):
            for col in range(k):
                for j in range(J):
                    R[a, col, j] -= A[a, m, j] * R[m, col, j]
        for col in range(k):
            for j in range(J):
                R[a, col, j] *= inverse[a, j]

    # Schur complement of [X y]: S = [X y]'[X y] − Σ_j R_j'R_j (lower triangle; a loop,
    # not a BLAS call, whose overhead exceeds the work at these sizes).
    S = XytXy.copy()
    for r in range(k):
        for c in range(r + 1):
            total = 0.0
            for a in range(q):
                for j in range(J):
                    total += R[a, r, j] * R[a, c, j]
            S[r, c] -= total
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
def deviance_at_sigma(
    theta: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    ZtZ: np.ndarray,
    ZtXy: np.ndarray,
    XytXy: np.ndarray,
    n: int,
    sigma: float,
    reml: bool,
) -> float:
    """−2 log L (ML) or the REML criterion at θ and a given σ, β profiled out.

    ML: log|L|² + r²/σ² + n log(2πσ²); REML adds log|R_X|² and has n − p for n
    (lme4's ``devfun2`` and lmerTest's ``devfun_vp``).  Minimized over σ it is
    :func:`deviance`.  +inf where a factorization fails or σ ≤ 0.
    """
    if not sigma > 0.0:
        return np.inf
    S, log_det_L, ok = _factor(theta, rows, cols, ZtZ, ZtXy, XytXy)
    if not ok:
        return np.inf
    p = XytXy.shape[0] - 1
    pwrss = S[p, p] * S[p, p]
    sigma2 = sigma * sigma
    if reml:
        log_det_RX = 0.0
        for a in range(p):
            log_det_RX += 2.0 * math.log(S[a, a])
        return log_det_L + log_det_RX + pwrss / sigma2 + (n - p) * (LOG_2PI + math.log(sigma2))
    return log_det_L + pwrss / sigma2 + n * (LOG_2PI + math.log(sigma2))


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


@numba.njit(cache=True)
def _accumulate_row(
    X: np.ndarray,
    Z: np.ndarray,
    i: int,
    g: int,
    y: float,
    Zty: np.ndarray,
    Xty: np.ndarray,
) -> float:
    """Add row i's response y to Z_g'y and X'y; return y² (for y'y)."""
    for a in range(Z.shape[1]):
        Zty[a, g] += Z[i, a] * y
    for c in range(X.shape[1]):
        Xty[c] += X[i, c] * y
    return y * y


@numba.njit(cache=True)
def _with_response(
    ZtXy: np.ndarray, XytXy: np.ndarray, Zty: np.ndarray, Xty: np.ndarray, yty: float
) -> tuple[np.ndarray, np.ndarray]:
    """Copies of ``ZtXy`` and ``XytXy`` with their response column replaced."""
    p = Xty.shape[0]
    new_ZtXy = ZtXy.copy()
    new_ZtXy[:, :, p] = Zty
    new_XytXy = XytXy.copy()
    for c in range(p):
        new_XytXy[c, p] = Xty[c]
        new_XytXy[p, c] = Xty[c]
    new_XytXy[p, p] = yty
    return new_ZtXy, new_XytXy


@numba.njit(cache=True)
def simulated_cross_products(
    mean: np.ndarray,
    X: np.ndarray,
    Z: np.ndarray,
    group: np.ndarray,
    b: np.ndarray,
    noise: np.ndarray,
    ZtXy: np.ndarray,
    XytXy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The cross-products of a simulated response, in one pass over the rows.

    y = mean + Z b[group] + noise is never stored: only its sufficient statistics (Z_j'y
    per group, X'y, y'y) are accumulated and put in the y-column of copies of ``ZtXy``
    (q, J, p + 1) and ``XytXy`` (p + 1, p + 1); the X and Z parts do not change.
    """
    n, q = Z.shape
    Zty = np.zeros((q, ZtXy.shape[1]))
    Xty = np.zeros(X.shape[1])
    yty = 0.0
    for i in range(n):
        g = group[i]
        y = mean[i] + noise[i]
        for a in range(q):
            y += Z[i, a] * b[g, a]
        yty += _accumulate_row(X, Z, i, g, y, Zty, Xty)
    return _with_response(ZtXy, XytXy, Zty, Xty, yty)


@numba.njit(cache=True)
def _gradient_and_hessian(
    theta: np.ndarray,
    value: float,
    rows: np.ndarray,
    cols: np.ndarray,
    ZtZ: np.ndarray,
    ZtXy: np.ndarray,
    XytXy: np.ndarray,
    n: int,
    reml: bool,
    step: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Central-difference gradient and Hessian at θ, steps h = step·max(1, |θ|).

    2m + m(m − 1)/2 evaluations: f(θ ± h_a e_a) give the gradient and the diagonal,
    f(θ + h_a e_a + h_b e_b) the off-diagonal (with the + points).
    """
    m = theta.shape[0]
    h = np.empty(m)
    for a in range(m):
        h[a] = step * max(1.0, abs(theta[a]))
    up = np.empty(m)
    down = np.empty(m)
    x = theta.copy()
    for a in range(m):
        x[a] = theta[a] + h[a]
        up[a] = deviance(x, rows, cols, ZtZ, ZtXy, XytXy, n, reml)
        x[a] = theta[a] - h[a]
        down[a] = deviance(x, rows, cols, ZtZ, ZtXy, XytXy, n, reml)
        x[a] = theta[a]
    gradient = (up - down) / (2.0 * h)
    hessian = np.empty((m, m))
    evaluations = 2 * m
    for a in range(m):
        hessian[a, a] = (up[a] - 2.0 * value + down[a]) / (h[a] * h[a])
        for b in range(a):
            x[a] = theta[a] + h[a]
            x[b] = theta[b] + h[b]
            both = deviance(x, rows, cols, ZtZ, ZtXy, XytXy, n, reml)
            x[a] = theta[a]
            x[b] = theta[b]
            evaluations += 1
            # f(+a+b) − f(+a) − f(+b) + f(0) = h_a h_b H_ab + O(h³)
            mixed = (both - up[a] - up[b] + value) / (h[a] * h[b])
            hessian[a, b] = mixed
            hessian[b, a] = mixed
    return gradient, hessian, evaluations


@numba.njit(cache=True)
def lme4_scaled_gradient(hessian: np.ndarray, gradient: np.ndarray) -> tuple[np.ndarray, bool]:
    """lme4's scaled gradient ``solve(chol(H), g)``: R⁻¹g with H = R'R (checkConv).

    A gradient measured in units of the criterion's curvature, so that the same tolerance
    serves 7 185 rows and a million; ok = False if H is not positive definite.
    """
    m = gradient.shape[0]
    factor = hessian.copy()
    if not _cholesky_in_place(factor):
        return gradient.copy(), False
    x = gradient.copy()
    for a in range(m - 1, -1, -1):  # R = L', so R x = g is a back substitution with L'
        for b in range(a + 1, m):
            x[a] -= factor[b, a] * x[b]
        x[a] /= factor[a, a]
    return x, True


@numba.njit(cache=True)
def _solve_positive_definite(matrix: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, bool]:
    """x with matrix·x = rhs by Cholesky; ok = False if the matrix is not positive definite."""
    m = rhs.shape[0]
    factor = matrix.copy()
    if not _cholesky_in_place(factor):
        return rhs.copy(), False
    x = rhs.copy()
    for a in range(m):
        for b in range(a):
            x[a] -= factor[a, b] * x[b]
        x[a] /= factor[a, a]
    for a in range(m - 1, -1, -1):
        for b in range(a + 1, m):
            x[a] -= factor[b, a] * x[b]
        x[a] /= factor[a, a]
    return x, True


@numba.njit(cache=True)
def newton_minimize(
    start: np.ndarray,
    diagonal: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    ZtZ: np.ndarray,
    ZtXy: np.ndarray,
    XytXy: np.ndarray,
    n: int,
    reml: bool,
    gradient_tolerance: float,
    scaled_tolerance: float,
    max_iterations: int,
    bound: float,
    armijo: float,
    rounding: float,
    fd_step: float,
) -> tuple[np.ndarray, float, np.ndarray, int, bool]:
    """Newton's method with finite-difference derivatives and a backtracking line search.

    For a bootstrap refit from a nearby interior optimum, where the criterion is smooth and
    convex: each step solves with the central-difference Hessian and gradient (tried
    BFGS updates instead: more evaluations in all, on HSB), until |gradient| ≤
    ``gradient_tolerance`` or lme4's scaled gradient (:func:`lme4_scaled_gradient`) is at most
    ``scaled_tolerance``; all in compiled code. It gives up (ok = False) instead of
    guessing whenever that picture fails: a variance parameter (``diagonal``) near its
    bound of 0, a Hessian that is not positive definite, a line search that finds no
    decrease, or too many iterations.
    The caller then falls back to BOBYQA, which handles bounds.
    """
    m = start.shape[0]
    theta = start.copy()
    value = deviance(theta, rows, cols, ZtZ, ZtXy, XytXy, n, reml)
    evaluations = 1
    gradient, hessian, used = _gradient_and_hessian(
        theta, value, rows, cols, ZtZ, ZtXy, XytXy, n, reml, fd_step
    )
    evaluations += used
    for _ in range(max_iterations):
        for a in range(m):
            if diagonal[a] and theta[a] < bound:
                return theta, value, gradient, evaluations, False
        if not np.isfinite(value):
            return theta, value, gradient, evaluations, False
        if np.max(np.abs(gradient)) <= gradient_tolerance:
            return theta, value, gradient, evaluations, True
        # Scale-aware: on a large data set the criterion and its rounding grow with n, and
        # |gradient| ≤ gradient_tolerance may be out of reach; lme4's scaled measure is not.
        scaled, positive = lme4_scaled_gradient(hessian, gradient)
        if positive and np.max(np.minimum(np.abs(scaled), np.abs(gradient))) <= scaled_tolerance:
            return theta, value, gradient, evaluations, True
        step, ok = _solve_positive_definite(hessian, -gradient)
        if not ok:
            return theta, value, gradient, evaluations, False
        slope = 0.0
        for a in range(m):
            slope += gradient[a] * step[a]
        length = 1.0
        accepted = False
        trial = theta.copy()
        trial_value = value
        for _ in range(30):
            trial = theta + length * step
            trial_value = deviance(trial, rows, cols, ZtZ, ZtXy, XytXy, n, reml)
            evaluations += 1
            # Armijo's sufficient decrease, up to the criterion's rounding (relative):
            # at the optimum the predicted decrease is below it.
            if trial_value <= value + armijo * length * slope + rounding * abs(value):
                accepted = True
                break
            length *= 0.5
        if not accepted:
            return theta, value, gradient, evaluations, False
        theta, value = trial, trial_value
        gradient, hessian, used = _gradient_and_hessian(
            theta, value, rows, cols, ZtZ, ZtXy, XytXy, n, reml, fd_step
        )
        evaluations += used
    return theta, value, gradient, evaluations, False


@numba.njit(cache=True)
def replace_response(
    X: np.ndarray,
    Z: np.ndarray,
    group: np.ndarray,
    y: np.ndarray,
    ZtXy: np.ndarray,
    XytXy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Copies of ``ZtXy`` and ``XytXy`` with the response column recomputed for ``y``."""
    n, q = Z.shape
    Zty = np.zeros((q, ZtXy.shape[1]))
    Xty = np.zeros(X.shape[1])
    yty = 0.0
    for i in range(n):
        yty += _accumulate_row(X, Z, i, group[i], y[i], Zty, Xty)
    return _with_response(ZtXy, XytXy, Zty, Xty, yty)

"""Simulate from a fitted model and refit it: the engine's side of the parametric bootstrap.

:class:`Refittable` keeps what a replicate needs: the design, θ̂, β̂, σ̂ and the per-school
cross-products of the original y.  A replicate simulates y* as lme4's ``simulate`` does
(u* ~ N(0, σ̂²I), b* = T̂u*, ε* ~ N(0, σ̂²I), y* = Xβ̂ + Zb* + ε*), replaces only the
y-parts of the cross-products (O(n), y* never stored), and refits from θ̂ as lme4's
``refit`` does: Newton's method first, compiled, BOBYQA where Newton declines; then
lme4's ``check.conv.grad`` at the refit.  Where the random numbers come from (the seed of
each replicate) is the caller's business: see :mod:`hlmrep.bootstrap.chunks`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hlmrep.engine import kernel
from hlmrep.engine.control import DEFAULT_CONTROL, Control
from hlmrep.engine.design import DesignMatrices
from hlmrep.engine.deviance import (
    CrossProducts,
    profiled_deviance_batch,
    relative_covariance_factor,
    theta_layout,
    theta_lower_bounds,
)
from hlmrep.engine.model import LmmResult, scaled_cross_products
from hlmrep.engine.optimality import free_hessian, projected_gradient, scaled_gradient_measure
from hlmrep.engine.optimizer_runs import RunStatus
from hlmrep.engine.optimizers import CountedObjective, bobyqa
from hlmrep.engine.specification import ModelSpecification


@dataclass
class Refittable:
    """A fitted model reduced to what a bootstrap replicate needs.

    It works, as the fit does, on the random-effect columns divided by their scale
    (:func:`~hlmrep.engine.model.column_scales`, powers of two): θ inside is φ = θ·scale,
    so Newton's steps and the convergence check mean the same for a covariate in any
    units.  ``theta`` given and returned (:meth:`refit`'s ``"theta"``) is lme4's θ.  Only
    the free θ of the specification move (``(x || g)``'s off-diagonal stays 0).
    """

    design: DesignMatrices
    specification: ModelSpecification
    theta: np.ndarray
    beta: np.ndarray
    sigma: float
    control: Control = DEFAULT_CONTROL

    @classmethod
    def from_result(cls, result: LmmResult) -> Refittable:
        return cls(
            design=result.design,
            specification=result.specification,
            theta=np.array(result.theta),
            beta=np.array(result.solution.beta),
            sigma=result.sigma,
            control=result.control,
        )

    def __post_init__(self) -> None:
        # Constant across replicates: computed once.
        d = self.design
        self.reml = self.specification.reml
        self.rows, self.cols = theta_layout(self.q)
        self.free = self.specification.free_theta(self.q)
        # The cross-products of the original y (the X and Z parts are reused).
        self.base, scales = scaled_cross_products(d)
        self.scale = scales[self.rows]  # φ = θ·scale
        self.fixed_mean = d.X @ self.beta
        self.design_Z = np.ascontiguousarray(d.Z / scales)
        self.design_X = np.ascontiguousarray(d.X)
        # b* = T̂u* on the scaled columns is T̂_φ u*: Z_φ b_φ = Z b to the last bit.
        self.T = relative_covariance_factor(self.theta * self.scale, self.q)
        self.lower = theta_lower_bounds(self.q)[self.free]
        self.diagonal = (self.rows == self.cols)[self.free]

    @property
    def q(self) -> int:
        return self.design.Z.shape[1]

    def _draws(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """b* = T̂u* (J × q) and ε* (n); u* drawn first, then ε*, both N(0, σ̂²)."""
        d = self.design
        u = rng.standard_normal((len(d.group_levels), self.q)) * self.sigma
        epsilon = rng.standard_normal(len(d.y)) * self.sigma
        return u @ self.T.T, epsilon

    def simulate(self, rng: np.random.Generator) -> np.ndarray:
        """y* = Xβ̂ + Z b* + ε*."""
        b, epsilon = self._draws(rng)
        return kernel.add_random_part(
            self.fixed_mean, self.design_Z, self.design.group_index, b, epsilon
        )

    def cross_products_for(self, y: np.ndarray) -> CrossProducts:
        """The cross-products with y replaced: only Z'y, X'y and y'y change, O(n)."""
        d, base = self.design, self.base
        ZtXy, XytXy = kernel.replace_response(
            self.design_X, self.design_Z, d.group_index, y, base.ZtXy, base.XytXy
        )
        return CrossProducts(ZtZ=base.ZtZ, ZtXy=ZtXy, XytXy=XytXy, n=base.n)

    def simulated_cross_products(self, rng: np.random.Generator) -> CrossProducts:
        """The cross-products of one simulated y* (same draws as :meth:`simulate`).

        One compiled pass over the rows accumulates Z_j'y*, X'y* and y*'y* without storing
        y*: what :meth:`cross_products_for` of :meth:`simulate` gives, at a fraction of
        the cost.
        """
        d, base = self.design, self.base
        b, epsilon = self._draws(rng)
        ZtXy, XytXy = kernel.simulated_cross_products(
            self.fixed_mean,
            self.design_X,
            self.design_Z,
            d.group_index,
            b,
            epsilon,
            base.ZtXy,
            base.XytXy,
        )
        return CrossProducts(ZtZ=base.ZtZ, ZtXy=ZtXy, XytXy=XytXy, n=base.n)

    def refit(self, cp: CrossProducts, starts: list[np.ndarray]) -> dict[str, Any]:
        """Refit to new cross-products from each start (lme4's θ); keep the best; check it.

        The starts are near the answer (θ̂ of the original fit): Newton's method, compiled,
        usually gets there in a few steps; where it declines (near a variance bound, or
        where the criterion is not convex there), BOBYQA begins with a small trust region.
        Either way the optimum is checked by lme4's ``check.conv.grad`` rule.
        """
        q, free, reml, control = self.q, self.free, self.reml, self.control
        full = len(free) == len(self.rows)
        # Newton's kernel works on θ's free elements as a θ of their own: T's diagonal
        # alone (q elements) is the θ layout of nothing, so the diagonal case maps through
        # ``embed``, and Newton runs only where every element is free.
        ZtZ, ZtXy, XytXy, n = cp.ZtZ, cp.ZtXy, cp.XytXy, cp.n
        rows, cols = self.rows, self.cols

        def embed(phi: np.ndarray) -> np.ndarray:
            return phi if full else self.specification.embed(phi, q)

        def single(phi: np.ndarray) -> float:
            return kernel.deviance(embed(phi), rows, cols, ZtZ, ZtXy, XytXy, n, reml)

        f = CountedObjective(single, lambda ps: profiled_deviance_batch(embed(ps), cp, reml))
        best_phi: np.ndarray | None = None
        best_gradient: np.ndarray | None = None
        best_value, best_status = math.inf, RunStatus.FAILED
        for start in starts:
            phi_start = (np.asarray(start, dtype=float) * self.scale)[free]
            ok = False
            if full:
                phi, value, newton_gradient, _, ok = kernel.newton_minimize(
                    phi_start.copy(),
                    self.diagonal,
                    rows,
                    cols,
                    ZtZ,
                    ZtXy,
                    XytXy,
                    n,
                    reml,
                    control.newton_gradient_tol,
                    control.newton_scaled_tol,
                    control.newton_max_iterations,
                    control.newton_bound,
                    control.newton_armijo,
                    control.criterion_rounding,
                    control.newton_step,
                )
                status = RunStatus.NEWTON
                gradient: np.ndarray | None = newton_gradient
            if not ok:
                phi, status = bobyqa(
                    f,
                    phi_start.copy(),
                    self.lower,
                    control.refit_tol,
                    control.refit_initial_step,
                    control.maxeval,
                )
                value = f(phi)
                gradient = None  # the check below computes it
            if value < best_value:
                best_phi, best_value, best_status, best_gradient = phi, value, status, gradient
        assert best_phi is not None
        at_bound = np.zeros(len(best_phi), dtype=bool)  # Newton ends only in the interior
        if best_gradient is None:
            best_gradient, at_bound = projected_gradient(
                f, best_phi, self.lower, best_value, control
            )
        gradient = best_gradient
        # lme4's check.conv.grad; min(|scaled|, |raw|) ≤ |raw|, so the Hessian is needed
        # only when the raw gradient alone does not pass (never on HSB; on large data).
        convergence = float(np.max(np.abs(gradient))) if len(gradient) else 0.0
        if convergence > control.check_conv_grad:
            hessian = free_hessian(f, best_phi, ~at_bound, best_value, control)
            convergence = scaled_gradient_measure(gradient, at_bound, hessian)
        theta_phi = embed(best_phi)
        beta, pwrss = kernel.beta_and_pwrss(theta_phi, rows, cols, cp.ZtZ, cp.ZtXy, cp.XytXy)
        dof = cp.n - cp.p if reml else cp.n
        return {
            "theta": theta_phi / self.scale,
            "criterion": best_value,
            "beta": beta,
            "sigma": math.sqrt(pwrss / dof),
            "converged": bool(np.isfinite(best_value) and best_status.converged),
            "verified": bool(convergence <= control.check_conv_grad),
            "singular": bool(np.any(theta_phi[rows == cols] < control.check_conv_singular)),
        }


def embed_theta(reduced: LmmResult, full: LmmResult) -> np.ndarray:
    """The reduced fit's covariance as a θ of the full model (added terms ≈ 0)."""
    q_full = len(full.random_names)
    T = np.zeros((q_full, q_full))
    reduced_T = relative_covariance_factor(np.array(reduced.theta), len(reduced.random_names))
    index = [full.random_names.index(n) for n in reduced.random_names]
    for a, fa in enumerate(index):
        for b, fb in enumerate(index):
            T[fa, fb] = reduced_T[a, b]
    for i in range(q_full):
        if i not in index:
            T[i, i] = 1e-4
    rows, cols = theta_layout(q_full)
    return T[rows, cols]

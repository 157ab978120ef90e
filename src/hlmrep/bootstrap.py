"""Parametric bootstrap: confidence intervals (lme4's ``confint(method = "boot")``) and
likelihood-ratio tests (pbkrtest's ``PBmodcomp``), in chunks whose results do not depend on
how the replicates are split.

Replicate r of a target draws its random numbers from
``numpy.random.SeedSequence(seed, spawn_key=(target_key, r))``, so a replicate's result is
the same whatever the chunk size, the number of cores or the executor; chunks are
concatenated in replicate order.  Each replicate simulates y* from the fitted model
(u* ~ N(0, σ̂²I), b* = T̂u*, ε* ~ N(0, σ̂²I), as lme4's ``simulate``), replaces only the
y-parts of the per-school cross-products (O(n)), and refits from θ̂ with BOBYQA at lme4's
settings (as lme4's ``refit``), then checks the first-order optimality conditions.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hlmrep import kernel
from hlmrep.data import read_json, read_prepared, write_atomically
from hlmrep.deviance import (
    CrossProducts,
    cross_products,
    profiled_deviance_batch,
    relative_covariance_factor,
    theta_layout,
    theta_lower_bounds,
)
from hlmrep.formula import DesignMatrices
from hlmrep.lmm import LmmResult, fit
from hlmrep.optimize import (
    CHECK_CONV_GRAD,
    SINGULAR_TOLERANCE,
    CountedObjective,
    bobyqa,
    free_hessian,
    projected_gradient,
    scaled_gradient_measure,
)

#: BOBYQA's stopping tolerance and first trust-region radius for a bootstrap refit.
REFIT_TOLERANCE = 1e-10
REFIT_STEP = 0.1
#: Newton's stopping rule for a refit: |central-difference gradient| at most this, ten
#: times the gradient's rounding noise seen on HSB; or lme4's scaled gradient (which stays
#: within reach on large data, where the raw gradient's rounding noise grows with n) at most
#: a hundredth of what the optimality check accepts (CHECK_CONV_GRAD).
NEWTON_GRADIENT_TOLERANCE = 1e-3
NEWTON_SCALED_TOLERANCE = CHECK_CONV_GRAD / 100
NEWTON_MAX_ITERATIONS = 20


def target_key(name: str) -> int:
    """A stable 32-bit key for a target's name, so targets draw independent streams."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def replicate_rng(seed: int, name: str, replicate: int) -> np.random.Generator:
    return np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(target_key(name), replicate))
    )


@dataclass
class Refittable:
    """A fitted model reduced to what a bootstrap replicate needs."""

    design: DesignMatrices
    reml: bool
    theta: np.ndarray
    beta: np.ndarray
    sigma: float
    base: CrossProducts  # cross-products of the original y (the X and Z parts are reused)

    @classmethod
    def from_result(cls, result: LmmResult) -> Refittable:
        d = result.design
        return cls(
            design=d,
            reml=result.reml,
            theta=np.array(result.theta),
            beta=np.array(result.solution.beta),
            sigma=result.sigma,
            base=cross_products(d.X, d.Z, d.y, d.group_index, len(d.group_levels)),
        )

    def __post_init__(self) -> None:
        # Constant across replicates: computed once.
        self.fixed_mean = self.design.X @ self.beta
        self.T = relative_covariance_factor(self.theta, self.q)
        self.design_Z = np.ascontiguousarray(self.design.Z)
        self.design_X = np.ascontiguousarray(self.design.X)
        self.lower = theta_lower_bounds(self.q)
        self.rows, self.cols = theta_layout(self.q)
        self.diagonal = self.rows == self.cols

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
            self.fixed_mean, self.design.Z, self.design.group_index, b, epsilon
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
        """Refit to new cross-products from each start; keep the best; check KKT there.

        The starts are near the answer (θ̂ of the original fit): Newton's method, compiled,
        usually gets there in a few steps; where it declines (near a variance bound, or
        where the criterion is not convex there), BOBYQA begins with a small trust region.
        Either way the optimum is checked by its projected gradient.
        """
        lower, rows, cols, diagonal = self.lower, self.rows, self.cols, self.diagonal
        ZtZ, ZtXy, XytXy, n, reml = cp.ZtZ, cp.ZtXy, cp.XytXy, cp.n, self.reml
        deviance = kernel.deviance

        def single(theta: np.ndarray) -> float:
            return deviance(theta, rows, cols, ZtZ, ZtXy, XytXy, n, reml)

        f = CountedObjective(single, lambda ts: profiled_deviance_batch(ts, cp, reml))
        best_theta, best_value, message, best_gradient = None, math.inf, "", None
        for start in starts:
            theta, value, gradient, _, ok = kernel.newton_minimize(
                np.array(start, dtype=float),
                diagonal,
                rows,
                cols,
                ZtZ,
                ZtXy,
                XytXy,
                n,
                reml,
                NEWTON_GRADIENT_TOLERANCE,
                NEWTON_SCALED_TOLERANCE,
                NEWTON_MAX_ITERATIONS,
            )
            note = "newton"
            if not ok:
                theta, note = bobyqa(
                    f,
                    np.array(start, dtype=float),
                    lower,
                    tolerance=REFIT_TOLERANCE,
                    initial_step=REFIT_STEP,
                )
                value, gradient = f(theta), None
            if value < best_value:
                best_theta, best_value, message, best_gradient = theta, value, note, gradient
        at_bound = np.zeros(len(best_theta), dtype=bool)  # Newton ends only in the interior
        if best_gradient is None:
            best_gradient, at_bound = projected_gradient(f, best_theta, lower, best_value)
        gradient = best_gradient
        # lme4's check.conv.grad; min(|scaled|, |raw|) ≤ |raw|, so the Hessian is needed
        # only when the raw gradient alone does not pass (never on HSB; on large data).
        convergence = float(np.max(np.abs(gradient))) if len(gradient) else 0.0
        if convergence > CHECK_CONV_GRAD:
            hessian = free_hessian(f, best_theta, ~at_bound, best_value)
            convergence = scaled_gradient_measure(gradient, at_bound, hessian)
        beta, pwrss = kernel.beta_and_pwrss(best_theta, rows, cols, cp.ZtZ, cp.ZtXy, cp.XytXy)
        dof = cp.n - cp.p if self.reml else cp.n
        return {
            "theta": best_theta,
            "criterion": best_value,
            "beta": beta,
            "sigma": math.sqrt(pwrss / dof),
            "converged": bool(
                np.isfinite(best_value) and "roundoff" not in message and "maxeval" not in message
            ),
            "verified": bool(convergence <= CHECK_CONV_GRAD),
            "singular": bool(np.any(best_theta[rows == cols] < SINGULAR_TOLERANCE)),
        }


def parameter_names(result: LmmResult) -> list[str]:
    """lme4's ``confint`` names: .sig01, .sig02, … in θ's order (sd on the diagonal,
    correlation off it), then .sigma, then the fixed effects."""
    q = len(result.random_names)
    count = q * (q + 1) // 2
    return [f".sig{i + 1:02d}" for i in range(count)] + [".sigma", *result.fixed_names]


def parameter_values(theta: np.ndarray, sigma: float, beta: np.ndarray, q: int) -> np.ndarray:
    """SDs and correlations of the random effects in θ's order, σ, then β (lme4's order)."""
    T = relative_covariance_factor(theta, q)
    cov = sigma**2 * T @ T.T
    sd = np.sqrt(np.diag(cov))
    rows, cols = theta_layout(q)
    values = []
    for r, c in zip(rows, cols, strict=True):
        if r == c:
            values.append(sd[r])
        else:
            values.append(cov[r, c] / (sd[r] * sd[c]) if sd[r] > 0 and sd[c] > 0 else np.nan)
    return np.concatenate([values, [sigma], beta])


# ----- chunks ----------------------------------------------------------------------------------


def confint_chunk(result: LmmResult, name: str, seed: int, replicates: range) -> pd.DataFrame:
    """Replicates of a confidence-interval target: one row each, lme4's parameter names."""
    model = Refittable.from_result(result)
    names = parameter_names(result)
    rows = []
    for r in replicates:
        cp = model.simulated_cross_products(replicate_rng(seed, name, r))
        refit = model.refit(cp, [model.theta])
        values = parameter_values(refit["theta"], refit["sigma"], refit["beta"], model.q)
        rows.append(
            {
                "replicate": r,
                "converged": refit["converged"],
                "verified": refit["verified"],
                "singular": refit["singular"],
                **dict(zip(names, values, strict=True)),
            }
        )
    return pd.DataFrame(rows)


def lrt_chunk(
    reduced: LmmResult, full: LmmResult, name: str, seed: int, replicates: range
) -> pd.DataFrame:
    """Replicates of a bootstrap LR test: simulate from the reduced fit, refit both."""
    null = Refittable.from_result(reduced)
    alternative = Refittable.from_result(full)
    # The full model is also started at the null fit embedded in its parameter space
    # (zero for the added random terms), so a replicate near the null is not missed.
    embedded = _embed_theta(reduced, full)
    rows = []
    for r in replicates:
        y = null.simulate(replicate_rng(seed, name, r))
        fit0 = null.refit(null.cross_products_for(y), [null.theta])
        fit1 = alternative.refit(alternative.cross_products_for(y), [alternative.theta, embedded])
        rows.append(
            {
                "replicate": r,
                "lrt": fit0["criterion"] - fit1["criterion"],
                "converged": fit0["converged"] and fit1["converged"],
                "verified": fit0["verified"] and fit1["verified"],
                "singular_reduced": fit0["singular"],
                "singular_full": fit1["singular"],
            }
        )
    return pd.DataFrame(rows)


def _embed_theta(reduced: LmmResult, full: LmmResult) -> np.ndarray:
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


def chunk_range(chunk: int, chunk_size: int, nsim: int) -> range:
    start = chunk * chunk_size
    if start >= nsim:
        raise ValueError(f"chunk {chunk} starts at {start}, beyond nsim = {nsim}")
    return range(start, min(start + chunk_size, nsim))


def n_chunks(nsim: int, chunk_size: int) -> int:
    return math.ceil(nsim / chunk_size)


def _refit_from_record(record: dict[str, Any], data: pd.DataFrame, reml: bool) -> LmmResult:
    result = fit(record["formula"], data, reml=reml)
    if (
        reml == (record["estimation"] == "REML")
        and abs(result.criterion - (record["reml_criterion"] or record["deviance"])) > 1e-6
    ):
        raise RuntimeError(f"refitting {record['name']} did not reproduce its fit file")
    return result


def chunk_job(
    spec: dict[str, Any],
    name: str,
    seed: int,
    chunk: int,
    chunk_size: int,
    data_path: Path,
    fit_paths: list[Path],
    comparison_path: Path | None,
    out: Path,
) -> pd.DataFrame:
    """One chunk of one target: refit the original model(s), run the replicates, write CSV."""
    data = read_prepared(data_path)
    records = [read_json(p) for p in fit_paths]
    replicates = chunk_range(chunk, chunk_size, spec["nsim"])
    if spec["kind"] == "confint":
        (record,) = records
        result = _refit_from_record(record, data, record["estimation"] == "REML")
        table = confint_chunk(result, name, seed, replicates)
    else:
        comparison = read_json(comparison_path)
        reml = comparison["estimation"] == "REML"
        reduced, full = (_refit_from_record(r, data, reml) for r in records)
        table = lrt_chunk(reduced, full, name, seed, replicates)
    write_atomically(Path(out), lambda p: table.to_csv(p, index=False, float_format="%.17g"))
    return table


# ----- summaries ----------------------------------------------------------------------------


def percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """boot's percentile interval (``boot.ci(type = "perc")``, used by lme4's confint):
    order statistics at (R + 1)·α, interpolated on the normal-quantile scale (norm.inter)."""
    t = np.sort(values[np.isfinite(values)])
    R = len(t)
    out = []
    for alpha in ((1 - level) / 2, (1 + level) / 2):
        rk = (R + 1) * alpha
        k = math.floor(rk)
        if abs(rk - round(rk)) < 1e-9:
            out.append(t[round(rk) - 1] if 1 <= round(rk) <= R else np.nan)
        elif k == 0:
            out.append(t[0])
        elif k >= R:
            out.append(t[-1])
        else:
            z = stats.norm.ppf
            w = (z(alpha) - z(k / (R + 1))) / (z((k + 1) / (R + 1)) - z(k / (R + 1)))
            out.append(t[k - 1] + w * (t[k] - t[k - 1]))
    return float(out[0]), float(out[1])


def quantile_mc_se(values: np.ndarray, alpha: float) -> float:
    """Monte-Carlo SE of a sample quantile: half the spread of the order statistics at
    ranks R·α ± √(R·α(1−α)) (a binomial ±1 SD interval for the quantile's rank)."""
    t = np.sort(values[np.isfinite(values)])
    R = len(t)
    spread = math.sqrt(R * alpha * (1 - alpha))
    lo = int(max(0, math.floor(R * alpha - spread)))
    hi = int(min(R - 1, math.ceil(R * alpha + spread)))
    return float((t[hi] - t[lo]) / 2)


def gather(
    chunks: list[Path], spec: dict[str, Any], name: str, comparison_path: Path | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Concatenate chunks in replicate order, check completeness, summarize."""
    table = pd.concat([pd.read_csv(p) for p in chunks], ignore_index=True)
    table = table.sort_values("replicate", kind="stable").reset_index(drop=True)
    expected = np.arange(spec["nsim"])
    if not np.array_equal(table["replicate"].to_numpy(), expected):
        raise RuntimeError(f"bootstrap {name}: replicates missing or duplicated in the chunks")
    summary: dict[str, Any] = {
        "name": name,
        "kind": spec["kind"],
        "nsim": spec["nsim"],
        "converged": int(table["converged"].sum()),
        "verified": int(table["verified"].sum()),
    }
    if spec["kind"] == "confint":
        level = spec.get("level", 0.95)
        summary["level"] = level
        summary["singular"] = int(table["singular"].sum())
        summary["model"] = spec["model"]
        params = [
            c for c in table.columns if c not in ("replicate", "converged", "verified", "singular")
        ]
        summary["intervals"] = {}
        for param in params:
            values = table[param].to_numpy(dtype=float)
            lower, upper = percentile_interval(values, level)
            summary["intervals"][param] = {
                "lower": lower,
                "upper": upper,
                "lower_mc_se": quantile_mc_se(values, (1 - level) / 2),
                "upper_mc_se": quantile_mc_se(values, (1 + level) / 2),
                "mean": float(np.nanmean(values)),
                "sd": float(np.nanstd(values, ddof=1)),
            }
    else:
        comparison = read_json(comparison_path)
        observed = comparison["chisq"]
        lrt = table["lrt"].to_numpy(dtype=float)
        # p = (1 + #{LRT* ≥ LRT}) / (1 + nsim): Davison & Hinkley (1997, eq. 4.11), a valid
        # p-value with every replicate counted.  pbkrtest's PBmodcomp counts only the
        # positive LRT* and strict exceedances, (1 + #{LRT* > LRT, LRT* > 0}) /
        # (1 + #{LRT* > 0}); it is given beside ours so that a PBmodcomp result compares.
        extremes = int(np.sum(lrt >= observed))
        p = (1 + extremes) / (1 + spec["nsim"])
        positive = lrt > 0
        p_pbkrtest = (1 + int(np.sum(lrt[positive] > observed))) / (1 + int(positive.sum()))
        summary.update(
            {
                "comparison": spec["comparison"],
                "estimation": comparison["estimation"],
                "lrt": observed,
                "df": comparison["df"],
                "extremes": extremes,
                "p_value": p,
                "p_value_mc_se": math.sqrt(p * (1 - p) / spec["nsim"]),
                "p_value_pbkrtest": p_pbkrtest,
                "positive_replicates": int(positive.sum()),
                "p_value_chisq": comparison["p_value"],
                "singular_reduced": int(table["singular_reduced"].sum()),
                "singular_full": int(table["singular_full"].sum()),
            }
        )
    return table, summary


def gather_job(
    chunks: list[Path],
    spec: dict[str, Any],
    name: str,
    comparison_path: Path | None,
    out_table: Path,
    out_summary: Path,
) -> dict[str, Any]:
    table, summary = gather(chunks, spec, name, comparison_path)
    write_atomically(Path(out_table), lambda p: table.to_csv(p, index=False, float_format="%.17g"))
    write_atomically(Path(out_summary), lambda p: p.write_text(json.dumps(summary, indent=1)))
    return summary

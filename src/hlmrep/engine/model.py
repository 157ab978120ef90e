"""A fitted model and how it is fitted: lme4's ``lmer``, with the optimum verified.

``fit("mathach ~ cses + (cses | school)", data)`` returns an :class:`LmmResult` that carries
every number lme4's ``summary()`` and ``anova()`` print, under lme4's names, plus the
optimizer's evidence that the optimum was reached (:mod:`hlmrep.engine.optimize`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hlmrep.engine.control import DEFAULT_CONTROL, Control
from hlmrep.engine.design import DesignMatrices
from hlmrep.engine.deviance import (
    CrossProducts,
    Solution,
    canonical_theta,
    cross_products,
    profiled_deviance,
    profiled_deviance_batch,
    solve_at,
    theta_layout,
    theta_lower_bounds,
    theta_start,
)
from hlmrep.engine.likelihood import information_criteria
from hlmrep.engine.optimize import find_optimum
from hlmrep.engine.optimizer_runs import DEFAULT_START, LME4_OPTIMIZER, OptimumReport
from hlmrep.engine.specification import ModelSpecification, specify

if TYPE_CHECKING:
    from hlmrep.engine.intervals import Intervals
    from hlmrep.engine.satterthwaite import TTestRow


@dataclass
class LmmResult:
    """A fitted model: estimates, fit statistics, conditional modes and optimizer report."""

    specification: ModelSpecification
    design: DesignMatrices = field(repr=False)
    solution: Solution = field(repr=False)
    optimum: OptimumReport = field(repr=False)
    control: Control = field(default=DEFAULT_CONTROL, repr=False)

    # ----- what was fitted ------------------------------------------------------------------
    @property
    def formula(self) -> str:
        return self.specification.text

    @property
    def reml(self) -> bool:
        return self.specification.reml

    @property
    def covariance(self) -> str:
        """ "unstructured" (lme4's ``(x | g)``) or "diagonal" (``(x || g)``: uncorrelated)."""
        return self.specification.covariance

    # ----- sizes and names -------------------------------------------------------------
    @property
    def n_obs(self) -> int:
        return len(self.design.y)

    @property
    def n_groups(self) -> int:
        return len(self.design.group_levels)

    @property
    def fixed_names(self) -> list[str]:
        return self.design.fixed_names

    @property
    def random_names(self) -> list[str]:
        return self.design.random_names

    @property
    def theta(self) -> np.ndarray:
        return self.solution.decomposition.theta

    # ----- fixed effects -----------------------------------------------------------------
    @property
    def beta(self) -> pd.Series:
        return pd.Series(self.solution.beta, index=self.fixed_names, name="Estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        return pd.DataFrame(
            self.solution.vcov_beta, index=self.fixed_names, columns=self.fixed_names
        )

    @property
    def std_errors(self) -> pd.Series:
        return pd.Series(
            np.sqrt(np.diag(self.solution.vcov_beta)), index=self.fixed_names, name="Std. Error"
        )

    @property
    def fixed_correlation(self) -> pd.DataFrame:
        se = np.sqrt(np.diag(self.solution.vcov_beta))
        return self.vcov / np.outer(se, se)

    # ----- variance components ---------------------------------------------------------
    @property
    def sigma2(self) -> float:
        return self.solution.sigma2

    @property
    def sigma(self) -> float:
        return math.sqrt(self.solution.sigma2)

    @property
    def random_cov(self) -> pd.DataFrame:
        """τ, the covariance matrix of the random effects (lme4's ``VarCorr``)."""
        return pd.DataFrame(
            self.solution.random_cov, index=self.random_names, columns=self.random_names
        )

    @property
    def random_sd(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.solution.random_cov)), index=self.random_names)

    @property
    def random_correlation(self) -> pd.DataFrame:
        sd = self.random_sd.to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = self.solution.random_cov / np.outer(sd, sd)
        np.fill_diagonal(corr, 1.0)
        return pd.DataFrame(corr, index=self.random_names, columns=self.random_names)

    # ----- likelihood --------------------------------------------------------------------
    @property
    def criterion(self) -> float:
        """REML criterion at convergence (REML) or deviance, −2 log L (ML), as lme4."""
        return self.solution.criterion

    @property
    def npar(self) -> int:
        return self.specification.npar(len(self.fixed_names), len(self.random_names))

    @property
    def loglik(self) -> float:
        return -0.5 * self.criterion

    @property
    def aic(self) -> float:
        return information_criteria(self.criterion, self.npar, self.n_obs)["AIC"]

    @property
    def bic(self) -> float:
        return information_criteria(self.criterion, self.npar, self.n_obs)["BIC"]

    @property
    def singular(self) -> bool:
        """lme4's ``isSingular``: a diagonal element of T below ``check_conv_singular``."""
        rows, cols = theta_layout(len(self.random_names))
        diag = self.theta[rows == cols]
        return bool(np.any(diag < self.control.check_conv_singular))

    @property
    def at_optimum(self) -> bool:
        """Whether θ here is the verified optimum (False for :meth:`at_theta` results)."""
        return bool(np.array_equal(self.theta, self.optimum.theta))

    # ----- observation level -------------------------------------------------------------
    @property
    def fitted(self) -> np.ndarray:
        d = self.design
        return d.X @ self.solution.beta + np.einsum("nq,nq->n", d.Z, self.solution.b[d.group_index])

    @property
    def residuals(self) -> np.ndarray:
        return self.design.y - self.fitted

    @property
    def scaled_residual_quantiles(self) -> dict[str, float]:
        """Min, 1Q, median, 3Q, max of residuals/σ: R's type-7 quantiles, as summary()."""
        values = np.quantile(self.residuals / self.sigma, [0, 0.25, 0.5, 0.75, 1.0])
        return dict(zip(["min", "q1", "median", "q3", "max"], map(float, values), strict=True))

    # ----- group level ---------------------------------------------------------------------
    @property
    def conditional_modes(self) -> pd.DataFrame:
        """Conditional modes of the random effects (lme4's ``ranef``, the EB estimates)."""
        return pd.DataFrame(
            self.solution.b,
            index=pd.Index(self.design.group_levels, name=self.design.group),
            columns=self.random_names,
        )

    @property
    def conditional_variances(self) -> np.ndarray:
        """(J, q, q) conditional covariances of the modes (lme4's ``condVar``)."""
        return self.solution.b_cond_var

    # ----- other stopping points -------------------------------------------------------------
    def at_theta(self, theta: np.ndarray) -> LmmResult:
        """The same model evaluated at another θ (e.g. where lme4's default optimizer stopped).

        The optimizer report is kept: it still describes the search, and ``verified`` refers
        to the optimum, not to ``theta``.
        """
        d = self.design
        cp = cross_products(d.X, d.Z, d.y, d.group_index, len(d.group_levels))
        return LmmResult(
            specification=self.specification,
            design=d,
            solution=solve_at(np.asarray(theta, dtype=float), cp, self.reml),
            optimum=self.optimum,
            control=self.control,
        )

    def lme4_default_run(self) -> LmmResult:
        """The fit where BOBYQA from lme4's default start stopped: what plain lmer reports."""
        run = next(
            r
            for r in self.optimum.runs
            if r.optimizer == LME4_OPTIMIZER and r.start == DEFAULT_START
        )
        return self.at_theta(np.array(run.theta))

    # ----- output -------------------------------------------------------------------------------
    def to_dict(self, include_groups: bool = True) -> dict[str, object]:
        """Everything lme4 prints, as plain JSON-ready values with lme4's names."""
        corr_re = self.random_correlation
        q = len(self.random_names)
        out: dict[str, object] = {
            **self.specification.to_dict(),
            "n_obs": self.n_obs,
            "n_groups": self.n_groups,
            "group": self.design.group,
            "n_dropped_missing": self.design.n_dropped,
            "criterion_name": "REML criterion" if self.reml else "deviance",
            "reml_criterion": self.criterion if self.reml else None,
            "deviance": None if self.reml else self.criterion,
            "logLik": self.loglik,
            "AIC": self.aic,
            "BIC": self.bic,
            "npar": self.npar,
            "df_resid": self.n_obs - self.npar,
            "scaled_residuals": self.scaled_residual_quantiles,
            "fixed_effects": [
                {
                    "term": name,
                    "estimate": float(est),
                    "std_error": float(se),
                    "t_value": float(est / se),
                }
                for name, est, se in zip(
                    self.fixed_names, self.solution.beta, self.std_errors, strict=True
                )
            ],
            "vcov_fixed": self.vcov.to_numpy().tolist(),
            "fixed_correlation": self.fixed_correlation.to_numpy().tolist(),
            "random_effects": {
                "group": self.design.group,
                "terms": self.random_names,
                "variance": [float(v) for v in np.diag(self.solution.random_cov)],
                "sd": [float(v) for v in self.random_sd],
                "covariance": self.random_cov.to_numpy().tolist(),
                "correlation": [
                    {
                        "term1": self.random_names[j],
                        "term2": self.random_names[i],
                        "correlation": float(corr_re.iloc[i, j]),
                    }
                    for j in range(q)
                    for i in range(j + 1, q)
                    if self.covariance == "unstructured"
                ],
            },
            "residual_variance": self.sigma2,
            "sigma": self.sigma,
            "theta": [float(v) for v in self.theta],
            "singular": self.singular,
            "optimizer": self.optimum.to_dict(),
        }
        if include_groups:
            out["conditional_modes"] = {
                "levels": self.design.group_levels,
                "values": self.solution.b.tolist(),
                "conditional_variance": self.solution.b_cond_var.tolist(),
            }
        return out

    # ----- inference -------------------------------------------------------------------------
    def confint(self, method: str = "profile", level: float = 0.95) -> Intervals:
        """lme4's ``confint(fit, method = )``: "profile" (its default) or "Wald"."""
        from hlmrep.engine.intervals import confidence_intervals

        return confidence_intervals(self, method, level)

    def robust_standard_errors(self) -> pd.Series:
        """HLM's robust SEs of the fixed effects (cluster-robust CR0, clubSandwich's)."""
        from hlmrep.engine.sandwich import robust_standard_errors

        return pd.Series(robust_standard_errors(self), index=self.fixed_names, name="robust SE")

    def satterthwaite(self) -> list[TTestRow]:
        """lmerTest's fixed-effects table: Satterthwaite df, t value, p-value."""
        from hlmrep.engine.satterthwaite import satterthwaite

        return satterthwaite(self)

    def summary(self) -> str:
        """A text summary laid out like lme4's ``print(summary(fit))``."""
        from hlmrep.engine.summary import format_summary

        return format_summary(self)


def fit_design(
    design: DesignMatrices,
    specification: ModelSpecification,
    control: Control = DEFAULT_CONTROL,
) -> LmmResult:
    """Fit a model whose design matrices are already built (used by the bootstrap too).

    The optimizer works on the free elements of θ the specification names: all of T's
    lower triangle, or only its diagonal for lme4's ``(x || g)`` (the off-diagonal elements
    stay 0), on the random-effect columns divided by their scale (:func:`column_scales`).
    """
    # The search runs on the random-effect columns divided by their scale (a power of two,
    # so the criterion at corresponding points is the same to the last bit): lme4's θ for
    # a covariate in millionths is a million times larger, and no tolerance fits both.
    cp, scales = scaled_cross_products(design)
    n_groups = len(design.group_levels)
    q, reml = cp.q, specification.reml
    rows, cols = theta_layout(q)
    free = specification.free_theta(q)

    def embed(phi: np.ndarray) -> np.ndarray:
        return phi if len(free) == len(rows) else specification.embed(phi, q)

    report = find_optimum(
        lambda phi: profiled_deviance(embed(phi), cp, reml),
        start=theta_start(q)[free],
        lower=theta_lower_bounds(q)[free],
        diagonal=(rows == cols)[free],
        batch_objective=lambda phis: profiled_deviance_batch(embed(phis), cp, reml),
        canonical=lambda phi: canonical_theta(embed(phi), q)[free],
        control=control,
        scale=scales[rows][free],
    )
    # Runs and optimum in lme4's full θ (the fixed elements 0), as the record keeps them.
    runs = [
        replace(run, theta=[float(v) for v in embed(np.array(run.theta))]) for run in report.runs
    ]
    report = replace(report, theta=embed(report.theta), runs=runs)
    solution = solve_at(
        report.theta,
        cross_products(design.X, design.Z, design.y, design.group_index, n_groups),
        reml,
    )
    return LmmResult(
        specification=specification,
        design=design,
        solution=solution,
        optimum=report,
        control=control,
    )


def scaled_cross_products(design: DesignMatrices) -> tuple[CrossProducts, np.ndarray]:
    """The cross-products on the random-effect columns divided by :func:`column_scales`,
    and those scales: where the fit, the refits, the profile and Satterthwaite's df work."""
    scales = column_scales(design.Z)
    cp = cross_products(
        design.X, design.Z / scales, design.y, design.group_index, len(design.group_levels)
    )
    return cp, scales


def column_scales(Z: np.ndarray) -> np.ndarray:
    """Each random-effect column's scale: the power of two nearest its root mean square.

    θ of a column divided by s is θ·s (T's row scales with its column of Z), so the
    optimizer and its check see unit-scale covariates whatever their units.  A power of
    two divides exactly, which keeps every cross-product, and so the criterion at
    corresponding points, bit for bit what it is on the original columns.
    """
    rms = np.sqrt(np.mean(np.square(Z), axis=0)) if len(Z) else np.ones(Z.shape[1])
    exponents = np.where(rms > 0, np.round(np.log2(np.where(rms > 0, rms, 1.0))), 0.0)
    return np.ldexp(1.0, exponents.astype(int))


def fit(
    formula: str | ModelSpecification,
    data: pd.DataFrame,
    reml: bool = True,
    reference_levels: dict[str, str] | None = None,
    control: Control = DEFAULT_CONTROL,
    covariance: str | None = None,
) -> LmmResult:
    """Fit ``formula`` (lme4 syntax, one grouping factor) to ``data`` by REML or ML.

    ``reference_levels`` maps a categorical column to the level used as baseline
    (R's first factor level), e.g. ``{"sector": "Public"}``.  ``(x || g)`` in the formula,
    or ``covariance="diagonal"``, makes the random effects uncorrelated, as lme4's ``||``.
    A :class:`ModelSpecification` (:func:`specify`) may be given instead of the formula; it
    then says everything, and the other arguments but ``control`` are not used.
    """
    if isinstance(formula, ModelSpecification):
        return fit_design(formula.design(data), formula, control)
    specification = specify(formula, reml, reference_levels, covariance)
    return fit_design(specification.design(data), specification, control)


def rows_fingerprint(result: LmmResult) -> str:
    """SHA-256 of the data rows a fit used, so comparisons can refuse different rows."""
    index = np.asarray(result.design.row_index, dtype=np.int64)
    return hashlib.sha256(index.tobytes()).hexdigest()

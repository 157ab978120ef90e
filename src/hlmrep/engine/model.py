"""A fitted model and how it is fitted: lme4's ``lmer``, with the optimum verified.

``fit("mathach ~ cses + (cses | school)", data)`` returns an :class:`LmmResult` that carries
every number lme4's ``summary()`` and ``anova()`` print, under lme4's names, plus the
optimizer's evidence that the optimum was reached (:mod:`hlmrep.engine.optimize`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from hlmrep.engine.control import DEFAULT_CONTROL, Control
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
from hlmrep.engine.formula import DesignMatrices, build_design, parse_formula
from hlmrep.engine.optimize import (
    DEFAULT_START,
    LME4_OPTIMIZER,
    OptimumReport,
    find_optimum,
)

#: The covariance structures of the random-effects term that :func:`fit` accepts.
COVARIANCES = ("unstructured", "diagonal")


@dataclass
class LmmResult:
    """A fitted model: estimates, fit statistics, conditional modes and optimizer report."""

    formula: str
    reml: bool
    design: DesignMatrices = field(repr=False)
    solution: Solution = field(repr=False)
    optimum: OptimumReport = field(repr=False)
    control: Control = field(default=DEFAULT_CONTROL, repr=False)
    #: "unstructured" (lme4's ``(x | g)``) or "diagonal" (lme4's ``(x || g)``: the random
    #: terms uncorrelated, T's off-diagonal held at 0).
    covariance: str = "unstructured"

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
        q = len(self.random_names)
        n_theta = q if self.covariance == "diagonal" else q * (q + 1) // 2
        return len(self.fixed_names) + n_theta + 1

    @property
    def loglik(self) -> float:
        return -0.5 * self.criterion

    @property
    def aic(self) -> float:
        return self.criterion + 2 * self.npar

    @property
    def bic(self) -> float:
        return self.criterion + math.log(self.n_obs) * self.npar

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
            formula=self.formula,
            reml=self.reml,
            design=d,
            solution=solve_at(np.asarray(theta, dtype=float), cp, self.reml),
            optimum=self.optimum,
            control=self.control,
            covariance=self.covariance,
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
            "formula": self.formula,
            "estimation": "REML" if self.reml else "ML",
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
                ],
            },
            "residual_variance": self.sigma2,
            "sigma": self.sigma,
            "theta": [float(v) for v in self.theta],
            "singular": self.singular,
            "optimizer": self.optimum.to_dict(),
        }
        if self.covariance != "unstructured":
            out["covariance_structure"] = self.covariance
        if include_groups:
            out["conditional_modes"] = {
                "levels": self.design.group_levels,
                "values": self.solution.b.tolist(),
                "conditional_variance": self.solution.b_cond_var.tolist(),
            }
        return out

    def summary(self) -> str:
        """A text summary laid out like lme4's ``print(summary(fit))``."""
        from hlmrep.engine.summary import format_summary

        return format_summary(self)


def fit_design(
    design: DesignMatrices,
    reml: bool = True,
    formula: str = "",
    control: Control = DEFAULT_CONTROL,
    covariance: str = "unstructured",
) -> LmmResult:
    """Fit a model whose design matrices are already built (used by the bootstrap too).

    ``covariance="diagonal"`` fits lme4's ``(x || g)``: the random terms of the group are
    uncorrelated, so only T's diagonal is free (θ's off-diagonal elements stay 0).
    """
    if covariance not in COVARIANCES:
        raise ValueError(f"covariance must be one of {COVARIANCES}, not {covariance!r}")
    cp: CrossProducts = cross_products(
        design.X, design.Z, design.y, design.group_index, len(design.group_levels)
    )
    q = cp.q
    rows, cols = theta_layout(q)
    # The optimizer works on the free elements of θ: all of them, or T's diagonal.
    free = np.flatnonzero(rows == cols) if covariance == "diagonal" else np.arange(len(rows))

    def embed(phi: np.ndarray) -> np.ndarray:
        if len(free) == len(rows):
            return phi
        theta = np.zeros((*phi.shape[:-1], len(rows)))
        theta[..., free] = phi
        return theta

    report = find_optimum(
        lambda phi: profiled_deviance(embed(phi), cp, reml),
        start=theta_start(q)[free],
        lower=theta_lower_bounds(q)[free],
        diagonal=(rows == cols)[free],
        batch_objective=lambda phis: profiled_deviance_batch(embed(phis), cp, reml),
        canonical=lambda phi: canonical_theta(embed(phi), q)[free],
        control=control,
    )
    report = replace(report, theta=embed(report.theta))
    solution = solve_at(report.theta, cp, reml)
    return LmmResult(
        formula=formula,
        reml=reml,
        design=design,
        solution=solution,
        optimum=report,
        control=control,
        covariance=covariance,
    )


def fit(
    formula: str,
    data: pd.DataFrame,
    reml: bool = True,
    reference_levels: dict[str, str] | None = None,
    control: Control = DEFAULT_CONTROL,
    covariance: str = "unstructured",
) -> LmmResult:
    """Fit ``formula`` (lme4 syntax, one grouping factor) to ``data`` by REML or ML.

    ``reference_levels`` maps a categorical column to the level used as baseline
    (R's first factor level), e.g. ``{"sector": "Public"}``.  ``covariance="diagonal"``
    makes the random-effects term lme4's ``(x || g)``.
    """
    design = build_design(parse_formula(formula), data, reference_levels)
    return fit_design(design, reml=reml, formula=formula, control=control, covariance=covariance)


def rows_fingerprint(result: LmmResult) -> str:
    """SHA-256 of the data rows a fit used, so comparisons can refuse different rows."""
    index = np.asarray(result.design.row_index, dtype=np.int64)
    return hashlib.sha256(index.tobytes()).hexdigest()

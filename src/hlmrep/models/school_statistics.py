"""The textbook's HLM statistics for a fitted two-level model (Raudenbush & Bryk 2002, ch. 3–4).

Each function states the definition it computes and the page of the book it comes from.
Per-school OLS regressions are statsmodels' OLS, computed without a model object per
school (:func:`_pinv`); a test holds them equal to statsmodels'.

The level-1 coefficients of school j are the random terms of the model (the columns of
Z_j); their level-2 model is whatever part of the fixed effects is constant within schools.
For a model such as ``mathach ~ cses*meanses + cses*sector + (cses | school)`` (Table 4.5)
this is β_0j = γ00 + γ01 MEANSES_j + γ02 SECTOR_j + u_0j and
β_1j = γ10 + γ11 MEANSES_j + γ12 SECTOR_j + u_1j.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import special

from hlmrep.engine.model import LmmResult

if TYPE_CHECKING:  # the record's type only: the job that writes it checks it
    from hlmrep.records.hlm import HlmStatistics, HomogeneityTest


@dataclass(frozen=True)
class SchoolRegressions:
    """Per-school OLS fits on the level-1 coefficients (the random terms)."""

    levels: list[str]
    n: np.ndarray  # students per school
    usable: np.ndarray  # schools with enough data for OLS (n_j > q and Z_j'Z_j full rank)
    ols: np.ndarray  # (J, q) OLS of y_j on Z_j: the schools' own regressions
    ols_cov_unscaled: np.ndarray  # (J, q, q): (Z_j'Z_j)⁻¹
    residual_ols: np.ndarray  # (J, q) OLS of y_j − X_j γ̂ on Z_j: β̂_j − W_j γ̂
    predicted: np.ndarray  # (J, q) W_j γ̂, the fixed-effects prediction of β_j
    empirical_bayes: np.ndarray  # (J, q) W_j γ̂ + b_j (conditional modes)


def _pinv(Z: np.ndarray, rcond: float = 1e-15) -> np.ndarray:
    """The pseudo-inverse of one school's Z_j, computed as statsmodels' OLS computes it
    (``statsmodels.tools.tools.pinv_extended``: an SVD, singular values below rcond·max
    set to zero), operation for operation, so that the OLS estimates are statsmodels' to
    the last bit (a test compares them) without building a model object per school."""
    u, s, vt = np.linalg.svd(Z.conjugate(), False)
    cutoff = rcond * np.maximum.reduce(s)
    inverse = np.zeros_like(s)
    np.divide(1.0, s, out=inverse, where=s > cutoff)
    return np.dot(np.transpose(vt), np.multiply(inverse[:, np.newaxis], np.transpose(u)))


def school_regressions(result: LmmResult) -> SchoolRegressions:
    """Each school's OLS regression on its level-1 coefficients (as statsmodels' OLS).

    Besides the plain OLS estimates β̂_j (the schools' own lines, p. 76 and Fig. 4.2),
    returns β̂_j − W_j γ̂ computed as the OLS coefficients of the marginal residual
    y_j − X_j γ̂ on Z_j: where all fixed effects are level-2 terms this is exactly
    HLM's β̂_qj − Ŵ_qj γ̂_q; a level-1 covariate with a fixed slope is thereby adjusted for.
    One pseudo-inverse per school serves the three: β̂_j, (Z_j'Z_j)⁻¹ and the residual's
    coefficients; the cost is linear in the number of schools.
    """
    d = result.design
    q = d.Z.shape[1]
    J = len(d.group_levels)
    marginal_residual = d.y - d.X @ result.solution.beta
    ols = np.full((J, q), np.nan)
    residual_ols = np.full((J, q), np.nan)
    cov = np.full((J, q, q), np.nan)
    n = np.bincount(d.group_index, minlength=J)
    usable = np.zeros(J, dtype=bool)
    order = np.argsort(d.group_index, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(n)])
    for j in range(J):
        rows = order[bounds[j] : bounds[j + 1]]
        Zj = d.Z[rows]
        if len(rows) <= q or np.linalg.matrix_rank(Zj) < q:
            continue
        usable[j] = True
        pinv = _pinv(Zj)
        ols[j] = np.dot(pinv, d.y[rows])
        cov[j] = np.dot(pinv, np.transpose(pinv))
        residual_ols[j] = np.dot(pinv, marginal_residual[rows])
    predicted = level2_prediction(result)
    return SchoolRegressions(
        levels=d.group_levels,
        n=n,
        usable=usable,
        ols=ols,
        ols_cov_unscaled=cov,
        residual_ols=residual_ols,
        predicted=predicted,
        # β̃_j = W_j γ̂ + u_j (pp. 47–48, 86): for a coefficient whose level-2 model is its
        # own fixed effect alone this is lme4's coef(), γ̂ + b_j.
        empirical_bayes=predicted + result.solution.b,
    )


def level2_prediction(result: LmmResult) -> np.ndarray:
    """W_j γ̂ for every school and random coefficient (R&B eq. 4.13, pp. 76, 81).

    Read off the formula's terms (:func:`hlmrep.engine.design._level2_models`): coefficient r's
    level-2 model holds the fixed effects whose columns are r's column times school-level
    values, so W_j γ̂ is the sum of those γ̂ times the school's values.  A school's own data
    play no part, so a school without minority students still gets γ̂ for minorityYes.
    """
    d = result.design
    J, q = len(d.group_levels), len(d.random_names)
    prediction = np.zeros((J, q))
    beta = result.solution.beta
    for c, r in enumerate(d.level2_coefficient):
        if r >= 0:
            prediction[:, r] += beta[c] * d.level2_values[:, c]
    return prediction


def level2_predictor_counts(result: LmmResult) -> dict[str, int]:
    """Number of fixed effects in each level-1 coefficient's level-2 model (γ_q0 included).

    Taken from the formula's terms: ``cses:meanses`` = cses × MEANSES_j belongs to the cses
    slope, ``meanses`` to the intercept.  Level-1 covariates with fixed slopes belong to no
    coefficient.
    """
    d = result.design
    counts = dict.fromkeys(d.random_names, 0)
    for r in d.level2_coefficient:
        if r >= 0:
            counts[d.random_names[int(r)]] += 1
    return counts


def homogeneity_chisq(
    result: LmmResult, regressions: SchoolRegressions
) -> dict[str, HomogeneityTest]:
    """HLM's χ² test that τ_qq = 0 for each random coefficient (pp. 63–64, Tables 4.2–4.5).

        χ²_q = Σ_j (β̂_qj − Ŵ_qj γ̂_q)² / V̂_qqj,   V̂_qqj = σ̂² [(Z_j'Z_j)⁻¹]_qq,

    over the J' schools with enough data for OLS, referred to χ² with
    df = J' − 1 − (number of level-2 predictors of coefficient q) = J' − (fixed effects
    in coefficient q's level-2 model, γ_q0 included; p. 64).  σ̂² is the model's estimate.
    """
    counts = level2_predictor_counts(result)
    usable = regressions.usable
    out: dict[str, HomogeneityTest] = {}
    for q, name in enumerate(result.random_names):
        v = result.sigma2 * regressions.ols_cov_unscaled[usable, q, q]
        chisq = float(np.sum(regressions.residual_ols[usable, q] ** 2 / v))
        df = int(usable.sum()) - counts[name]
        out[name] = {
            "chisq": chisq,
            "df": df,
            "p_value": float(special.chdtrc(df, chisq)),
            "schools_used": int(usable.sum()),
            "level2_fixed_effects": counts[name],
        }
    return out


def reliabilities(result: LmmResult, regressions: SchoolRegressions) -> dict[str, float]:
    """Reliability of the OLS estimate of each random coefficient (pp. 46–47, 73, 77).

        λ_qj = τ_qq / (τ_qq + v_qqj),   v_qqj = σ̂² [(Z_j'Z_j)⁻¹]_qq,   reliability = mean_j λ_qj

    over the schools with enough data for OLS.
    """
    usable = regressions.usable
    tau = np.diag(result.solution.random_cov)
    out = {}
    for q, name in enumerate(result.random_names):
        v = result.sigma2 * regressions.ols_cov_unscaled[usable, q, q]
        out[name] = float(np.mean(tau[q] / (tau[q] + v)))
    return out


def intraclass_correlation(result: LmmResult) -> float | None:
    """ρ = τ00 / (τ00 + σ²) (p. 71); with level-2 predictors, the conditional ICC (p. 74).

    Defined for random-intercept models only (one random term, the intercept).
    """
    if result.random_names != ["(Intercept)"]:
        return None
    tau00 = float(result.solution.random_cov[0, 0])
    return tau00 / (tau00 + result.sigma2)


def plausible_value_range(result: LmmResult, level: float = 0.95) -> list[float] | None:
    """Range of school means (or intercepts) γ00 ± z·√τ00 (p. 71: 95% range, z = 1.96).

    With level-2 predictors, the range is for schools with all of them equal to zero.
    """
    if "(Intercept)" not in result.random_names or "(Intercept)" not in result.fixed_names:
        return None
    z = special.ndtri(0.5 + level / 2)
    gamma00 = float(result.beta["(Intercept)"])
    tau00 = float(result.random_cov.loc["(Intercept)", "(Intercept)"])
    return [gamma00 - z * math.sqrt(tau00), gamma00 + z * math.sqrt(tau00)]


def hlm_statistics(result: LmmResult) -> tuple[HlmStatistics, pd.DataFrame]:
    """Every textbook statistic of one model, and the per-school table behind them."""
    regressions = school_regressions(result)
    statistics: HlmStatistics = {
        "model_formula": result.formula,
        "chisq_homogeneity": homogeneity_chisq(result, regressions),
        "reliability": reliabilities(result, regressions),
        "icc": intraclass_correlation(result),
        "plausible_value_range_95": plausible_value_range(result),
        "schools_with_ols": int(regressions.usable.sum()),
        "schools": len(regressions.levels),
    }
    return statistics, school_table(result, regressions)


def school_table(result: LmmResult, regressions: SchoolRegressions) -> pd.DataFrame:
    """One row per school: n, OLS and empirical Bayes coefficients, conditional modes."""
    table = pd.DataFrame(
        {
            result.design.group: regressions.levels,
            "n": regressions.n,
            "ols_usable": regressions.usable,
        }
    )
    cond_var = result.solution.b_cond_var
    for q, name in enumerate(result.random_names):
        table[f"ols[{name}]"] = regressions.ols[:, q]
        table[f"eb[{name}]"] = regressions.empirical_bayes[:, q]
        table[f"mode[{name}]"] = result.solution.b[:, q]
        table[f"mode_sd[{name}]"] = np.sqrt(cond_var[:, q, q])
    return table

"""Print a fit the way lme4's ``summary()`` does, so it can be read beside R's output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from hlmrep.engine.r_print import format_pvalue

if TYPE_CHECKING:
    from hlmrep.engine.model import LmmResult
    from hlmrep.engine.satterthwaite import TTestRow


def format_summary(result: LmmResult) -> str:
    """lme4-style text: criterion, scaled residuals, random and fixed effects, optimizer."""
    method = "REML" if result.reml else "maximum likelihood"
    lines = [f"Linear mixed model fit by {method}", f"Formula: {result.formula}", ""]
    if result.reml:
        lines.append(f"REML criterion at convergence: {result.criterion:.1f}")
    else:
        lines.append(f"{'AIC':>10} {'BIC':>10} {'logLik':>10} {'deviance':>10} {'df.resid':>9}")
        lines.append(
            f"{result.aic:10.1f} {result.bic:10.1f} {result.loglik:10.1f} "
            f"{result.criterion:10.1f} {result.n_obs - result.npar:9d}"
        )
    quantiles = result.scaled_residual_quantiles
    lines += [
        "",
        "Scaled residuals:",
        "     Min       1Q   Median       3Q      Max",
        " ".join(f"{quantiles[k]:8.5f}" for k in ("min", "q1", "median", "q3", "max")),
        "",
        "Random effects:",
    ]
    corr = result.random_correlation.to_numpy()
    variances = np.diag(result.random_cov.to_numpy())
    groups = result.specification.groups(result.design.group, result.random_names)
    correlated = result.covariance == "unstructured"
    width = max(9, *(len(g) + 1 for g in groups))
    name_width = max(13, *(len(n) + 1 for n in result.random_names))
    header = f" {'Groups':<{width}}{'Name':<{name_width}}{'Variance':>10} {'Std.Dev.':>9}"
    lines.append(header + ("  Corr" if correlated and len(groups) > 1 else ""))
    for i, name in enumerate(result.random_names):
        group = groups[i] if i == 0 or groups[i] != groups[i - 1] else ""
        corr_text = " ".join(f"{corr[i, j]:5.2f}" for j in range(i)) if correlated else ""
        lines.append(
            f" {group:<{width}}{name:<{name_width}}{variances[i]:10.4f} "
            f"{np.sqrt(variances[i]):9.4f}  {corr_text}".rstrip()
        )
    lines.append(f" {'Residual':<{width + name_width}}{result.sigma2:10.4f} {result.sigma:9.4f}")
    lines.append(
        f"Number of obs: {result.n_obs}, groups:  {result.design.group}, {result.n_groups}"
    )
    lines += ["", "Fixed effects:", f"{'':<22}{'Estimate':>10} {'Std. Error':>10} {'t value':>8}"]
    for name, est, se in zip(result.fixed_names, result.beta, result.std_errors, strict=True):
        lines.append(f"{name:<22}{est:10.4f} {se:10.4f} {est / se:8.3f}")
    if len(result.fixed_names) > 1:
        lines += ["", "Correlation of Fixed Effects:"]
        fc = result.fixed_correlation.to_numpy()
        for i in range(1, len(result.fixed_names)):
            values = " ".join(f"{fc[i, j]:6.3f}" for j in range(i))
            lines.append(f"{result.fixed_names[i]:<22}{values}")
    report = result.optimum
    lines += [
        "",
        f"optimizer: best of {len(report.runs)} runs, {report.evaluations} "
        f"evaluations; optimum verified: {report.verified}; "
        f"runs agree: {report.runs_agree}",
    ]
    lines += [f"  note: {m}" for m in report.messages]
    if result.singular:
        lines.append("boundary (singular) fit: a diagonal element of T is below 1e-4")
    return "\n".join(lines)


def format_satterthwaite(result: LmmResult) -> str:
    """The fixed effects as lmerTest's ``summary()`` prints them (Satterthwaite's df)."""
    return _format_df_table(
        result.satterthwaite(),
        "Fixed effects (Satterthwaite's method for degrees of freedom, as lmerTest):",
    )


def format_kenward_roger(result: LmmResult) -> str:
    """The fixed effects as ``summary(fit, ddf = "Kenward-Roger")`` prints them: the SEs
    adjusted (pbkrtest's ``vcovAdj``), Kenward-Roger's df."""
    from hlmrep.engine.kenward_roger import kenward_roger_table

    return _format_df_table(
        kenward_roger_table(result),
        "Fixed effects (Kenward-Roger's method: adjusted SEs and df, as lmerTest and pbkrtest):",
    )


def _format_df_table(rows: Sequence[TTestRow], title: str) -> str:
    width = max(12, *(len(r.term) + 1 for r in rows))
    lines = [
        title,
        f"{'':<{width}}{'Estimate':>10} {'Std. Error':>10} {'df':>10} {'t value':>8} "
        f"{'Pr(>|t|)':>9}",
    ]
    for r in rows:
        lines.append(
            f"{r.term:<{width}}{r.estimate:10.4f} {r.std_error:10.4f} {r.df:10.2f} "
            f"{r.t_value:8.3f} {format_pvalue(r.p_value):>9}"
        )
    return "\n".join(lines)


def hlm_degrees_of_freedom(result: LmmResult) -> list[int]:
    """HLM's approximate df of each fixed effect: J − (predictors in its level-2 model) for
    a coefficient of a random effect (γ00 of Table 4.2: 160 − 1 = 159), n − p otherwise."""
    d = result.design
    J, n, p = len(d.group_levels), len(d.y), len(d.fixed_names)
    coefficient = list(d.level2_coefficient)
    if len(coefficient) != p:
        return [n - p] * p
    return [J - coefficient.count(r) if r >= 0 else n - p for r in coefficient]


def format_robust(result: LmmResult) -> str:
    """HLM's "Final estimation of fixed effects (with robust standard errors)"."""
    from scipy.special import stdtr  # t tail; scipy.stats would add 0.3 s

    robust = result.robust_standard_errors()
    dfs = hlm_degrees_of_freedom(result)
    width = max(14, *(len(n) + 1 for n in result.fixed_names))
    lines = [
        "Fixed effects with robust standard errors (HLM; cluster-robust CR0 by "
        f"{result.design.group}):",
        f"{'':<{width}}{'Estimate':>10} {'Robust SE':>10} {'Model SE':>10} {'t-ratio':>8} "
        f"{'Approx. df':>10} {'p-value':>8}",
    ]
    for name, est, se, model_se, df in zip(
        result.fixed_names, result.beta, robust, result.std_errors, dfs, strict=True
    ):
        t_ratio = est / se
        p = float(2.0 * stdtr(df, -abs(t_ratio)))
        lines.append(
            f"{name:<{width}}{est:10.6f} {se:10.6f} {model_se:10.6f} {t_ratio:8.3f} "
            f"{df:10d} {p:8.3f}"
        )
    return "\n".join(lines)


def format_cr2(result: LmmResult) -> str:
    """clubSandwich's ``coef_test(fit, vcov = "CR2")``: the bias-reduced cluster-robust SEs
    with Bell and McCaffrey's Satterthwaite df."""
    from hlmrep.engine.sandwich import cr2_table

    _, rows = cr2_table(result)
    width = max(14, *(len(r.term) + 1 for r in rows))
    lines = [
        "Fixed effects with robust standard errors (clubSandwich's CR2 by "
        f"{result.design.group}, Satterthwaite df):",
        f"{'':<{width}}{'Estimate':>10} {'SE':>10} {'t-stat':>8} {'d.f.':>10} {'p-value':>9}",
    ]
    for r in rows:
        lines.append(
            f"{r.term:<{width}}{r.estimate:10.4f} {r.std_error:10.4f} {r.t_value:8.3f} "
            f"{r.df:10.2f} {format_pvalue(r.p_value):>9}"
        )
    return "\n".join(lines)

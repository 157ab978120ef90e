"""Print a fit the way lme4's ``summary()`` does, so it can be read beside R's output."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hlmrep.engine.model import LmmResult


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
        f" {'Groups':<9}{'Name':<13}{'Variance':>10} {'Std.Dev.':>9}  Corr",
    ]
    corr = result.random_correlation.to_numpy()
    variances = np.diag(result.random_cov.to_numpy())
    for i, name in enumerate(result.random_names):
        group = result.design.group if i == 0 else ""
        corr_text = " ".join(f"{corr[i, j]:5.2f}" for j in range(i))
        lines.append(
            f" {group:<9}{name:<13}{variances[i]:10.4f} {np.sqrt(variances[i]):9.4f}  {corr_text}"
        )
    lines.append(f" {'Residual':<22}{result.sigma2:10.4f} {result.sigma:9.4f}")
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

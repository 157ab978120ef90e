"""Parametric bootstrap summaries: percentile intervals and bootstrap p-values.

The replicates come from :mod:`hlmrep.bootstrap.chunks`'s chunks; this module gathers them in
replicate order and summarizes, as boot's ``boot.ci(type = "perc")`` (lme4's ``confint``)
and pbkrtest's ``PBmodcomp`` do, with Monte-Carlo errors.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd
from scipy import special

from hlmrep.files import write_atomically
from hlmrep.records.bootstrap import BOOTSTRAP_SUMMARY, BootstrapSummary
from hlmrep.records.comparison import COMPARISON

if TYPE_CHECKING:
    from hlmrep.engine.intervals import Intervals

log = logging.getLogger("hlmrep")


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
            z = special.ndtri
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
) -> tuple[pd.DataFrame, BootstrapSummary]:
    """Concatenate chunks in replicate order, check completeness, summarize.

    ``spec`` is the target as config.yaml declares it: kind, nsim, and model and level (an
    interval) or comparison (a test).
    """
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
        if comparison_path is None:
            raise ValueError(f"bootstrap {name}: a likelihood-ratio target needs its comparison")
        comparison = COMPARISON.read(comparison_path)
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
    return table, cast(BootstrapSummary, summary)


def gather_job(
    *,
    name: str,
    kind: Literal["confint", "lrt"],
    nsim: int,
    model: str | None = None,
    level: float = 0.95,
    comparison_name: str | None = None,
    chunk: list[Path],
    comparison: Path | None = None,
    out_table: Path,
    out_summary: Path,
) -> BootstrapSummary:
    """All chunks of a target in replicate order: percentile intervals or the p-value.

    An interval target (``confint``) names its ``model`` and ``level``; a test target
    (``lrt``) its ``comparison_name`` and the ``comparison`` record."""
    spec: dict[str, Any] = {"kind": kind, "nsim": nsim}
    if kind == "confint":
        spec.update(model=model, level=level)
    else:
        spec["comparison"] = comparison_name
    table, summary = gather(chunk, spec, name, comparison)
    write_atomically(Path(out_table), lambda p: table.to_csv(p, index=False, float_format="%.17g"))
    BOOTSTRAP_SUMMARY.write(out_summary, summary)
    log.info("%s: %d of %d replicates converged", name, summary["converged"], summary["nsim"])
    return summary


def bootstrap_intervals(
    result: Any, nsim: int = 500, seed: int = 1, level: float = 0.95
) -> Intervals:
    """lme4's ``confint(fit, method = "boot", nsim = , boot.type = "perc")``: ``nsim``
    samples simulated from the fit and refitted by the engine (REML or ML as the fit),
    percentile intervals of every parameter (:func:`percentile_interval`).  Replicate r
    draws from ``SeedSequence(seed, (key("confint"), r))``, so the intervals depend on the
    seed and ``nsim`` alone, as the workflow's bootstrap targets do."""
    from hlmrep.bootstrap.chunks import confint_chunk, parameter_names
    from hlmrep.engine.intervals import Interval, Intervals

    if nsim < 2:
        raise ValueError(f"--nsim {nsim}: expected 2 or more samples")
    started = time.perf_counter()
    frame = confint_chunk(result, "confint", seed, range(nsim))
    q = len(result.random_names)
    spec = result.specification
    meanings = [*spec.sigma_parameter_labels(result.design.group, result.random_names), "sigma",
                *result.fixed_names]  # fmt: skip
    estimates = np.concatenate(
        [spec.sigma_parameters(result.theta, result.sigma, q), [result.sigma], result.beta]
    )
    rows = []
    for name, meaning, estimate in zip(parameter_names(result), meanings, estimates, strict=True):
        low, high = percentile_interval(frame[name].to_numpy(dtype=float), level)
        rows.append(
            Interval(
                name,
                meaning,
                float(estimate),
                None if math.isnan(low) else low,
                None if math.isnan(high) else high,
            )
        )
    failed = int((~frame["converged"].astype(bool)).sum())
    notes = [
        f"{nsim} samples simulated from the fit and refitted by "
        f'{spec.estimation} (seed {seed}); percentile intervals, as boot.ci(type = "perc")'
    ]
    if failed:
        notes.append(f"{failed} of {nsim} refits did not converge; their values are kept")
    return Intervals(
        "boot",
        level,
        rows,
        basis=spec.estimation,
        notes=notes,
        seconds=time.perf_counter() - started,
    )

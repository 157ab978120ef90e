"""A printed ``confint()`` graded by its method: Wald exactly, profile against the
engine's profile, bootstrap within its Monte-Carlo error.

The matrix names no model: it is the model of the assignment whose fixed effects are its
rows (by role, :func:`.their_model.role_of`: ``ses_cwc`` is cses, ``sectorCatholic`` is
sector) and whose random part has as many variance parameters (``.sig01``, …).  That model
is fitted by the engine and its intervals computed by the printout's method:

- **Wald** (β̂ ± z·SE; NA for the variance parameters): a closed form, graded like any
  printed number, exact at the printed digits or within :data:`WALD_RELATIVE` of ours
  (lme4 stops where the fixed effects agree with the optimum to about 7 digits, and
  prints the limits to 7);
- **profile** (lme4's default): against the engine's profile intervals
  (:mod:`hlmrep.engine.intervals`, each limit the root of the profile, to about 1e-7).
  lme4 reads the limits off a spline through a grid of the profile, or a straight line
  when the spline fails (it says so); a limit within :data:`PROFILE_SPLINE` of the
  interval's width of ours is what lme4 computes of that profile, and is exact;
- **boot** (``method = "boot"``, a parametric bootstrap of ``nsim`` simulations,
  percentile intervals): the limits are random.  We draw :data:`BOOT_REPLICATES`
  replicates of the same bootstrap (fixed seed, so a grade is reproducible) and accept a
  limit within :data:`BOOT_MC_SDS` Monte-Carlo standard errors of ours, the student's
  error at their ``nsim`` and ours combined (the SE of a sample quantile scales as
  1/√nsim).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from hlmrep.grading import verdicts
from hlmrep.grading.printout import Intervals, Printed
from hlmrep.grading.references import REFERENCE_LEVELS, References
from hlmrep.grading.verdicts import Number, unit_of
from hlmrep.records.grade import NumberGrade

#: A profile limit within this share of the interval's width of the engine's is lme4's
#: spline (or straight-line) reading of the same profile.
PROFILE_SPLINE = 0.002
#: A Wald limit this close to ours (relative) is the same limit from lme4's stopping point.
WALD_RELATIVE = 1e-6
#: Replicates of our own bootstrap of the model, and the Monte-Carlo SDs a limit may be
#: from ours.
BOOT_REPLICATES = 1000
BOOT_MC_SDS = 3.0
#: The seed of the grader's bootstrap (any fixed number: a grade must be reproducible).
BOOT_SEED = 20020575


def _role_token(part: str) -> str:
    from hlmrep.grading.their_model import role_of

    if part == "(Intercept)":
        return part
    role = role_of(part)
    return "cses" if role == "ses" else (role or part)


def fixed_roles(name: str) -> frozenset[str]:
    return frozenset(_role_token(p) for p in name.split(":"))


def target_of(
    block: Intervals, targets: list[str], references: References
) -> tuple[str, dict[str, str]] | None:
    """The model whose fixed effects are the matrix's rows and whose random part has as
    many variance parameters, and each printed row's name in that model's vocabulary."""
    fixed = [r.name for r in block.rows if not r.name.startswith(".")]
    variances = sum(1 for r in block.rows if re.fullmatch(r"\.sig\d+", r.name))
    wanted = {fixed_roles(name) for name in fixed}
    for target in targets:
        spec = references.models[target].spec
        terms = ["(Intercept)", *spec.fixed]
        q = 1 + len(spec.random)
        parameters = q * (q + 1) // 2 if spec.covariance == "unstructured" else q
        if {frozenset(t.split(":")) for t in terms} == wanted and parameters == variances:
            names = {}
            for name in fixed:
                term = next(t for t in terms if frozenset(t.split(":")) == fixed_roles(name))
                names[name] = spec.coefficient(term)
            return target, names
    return None


def reference_intervals(
    block: Intervals, target: str, table: pd.DataFrame, references: References
) -> dict[str, tuple[float | None, float | None, float]]:
    """Our intervals of ``target`` by the block's method: lme4's row name -> (lower,
    upper, allowance), the allowance being how far a limit may be from ours and still be
    that method's (0 for Wald: printed digits decide)."""
    from hlmrep.engine import fit
    from hlmrep.engine.intervals import profile_intervals, wald_intervals

    spec = references.models[target].spec
    result = fit(
        spec.formula(),
        table.assign(meanses=table[f"meanses_{spec.meanses}"]),
        reml=spec.reml,
        reference_levels=REFERENCE_LEVELS,
        covariance=spec.covariance,
    )
    if block.method in ("Wald", "profile"):
        rows = (wald_intervals if block.method == "Wald" else profile_intervals)(
            result, block.level
        )
        out = {}
        for row in rows.rows:
            width = (
                (row.upper - row.lower) if row.lower is not None and row.upper is not None else 0
            )
            allowance = (
                PROFILE_SPLINE * width
                if block.method == "profile"
                else WALD_RELATIVE * max(abs(row.lower or 0.0), abs(row.upper or 0.0))
            )
            out[row.parameter] = (row.lower, row.upper, allowance)
        return out
    return _bootstrap(result, block, target)


def _bootstrap(
    result: Any, block: Intervals, target: str
) -> dict[str, tuple[float | None, float | None, float]]:
    from hlmrep.bootstrap.chunks import confint_chunk
    from hlmrep.bootstrap.summary import percentile_interval, quantile_mc_se

    replicates = confint_chunk(result, f"grading {target}", BOOT_SEED, range(BOOT_REPLICATES))
    nsim = block.nsim or BOOT_REPLICATES
    out: dict[str, tuple[float | None, float | None, float]] = {}
    tail = (1 - block.level) / 2
    for name in replicates.columns:
        if name in ("replicate", "converged", "verified", "singular"):
            continue
        values = replicates[name].to_numpy(dtype=float)
        lower, upper = percentile_interval(values, block.level)
        # the student's Monte-Carlo SE at nsim and ours at BOOT_REPLICATES, combined
        ours = max(quantile_mc_se(values, tail), quantile_mc_se(values, 1 - tail))
        theirs = ours * math.sqrt(BOOT_REPLICATES / nsim)
        out[name] = (lower, upper, BOOT_MC_SDS * math.hypot(ours, theirs))
    return out


def grade_limits(
    block: Intervals,
    names: dict[str, str],
    ours: dict[str, tuple[float | None, float | None, float]],
) -> tuple[list[NumberGrade], list[dict[str, str]]]:
    """Each printed limit against ours: the numbers graded and the rows with no
    counterpart."""
    numbers: list[NumberGrade] = []
    ungraded: list[dict[str, str]] = []
    against = {"Wald": "Wald", "profile": "profile", "boot": "bootstrap"}[block.method]
    for row in block.rows:
        parameter = row.name if row.name.startswith(".") else names[row.name]
        if parameter not in ours:
            ungraded.append({"id": row.name, "submitted": _text(row.lower, row.upper)})
            continue
        lower, upper, allowance = ours[parameter]
        for side, printed, value in (("lower", row.lower, lower), ("upper", row.upper, upper)):
            qid = f"ci.{names.get(row.name, row.name)}.{side}"
            if printed is None or value is None:
                if (printed is None) != (value is None):
                    numbers.append(_graded(qid, printed, value, verdicts.MAJOR, against))
                continue
            mine = Number(printed.value, unit_of(printed.text))
            if abs(printed.value - value) <= allowance:
                verdict = verdicts.EXACT
            else:
                verdict = verdicts.verdict(mine, Number(value, 0.0))
            numbers.append(_graded(qid, printed, value, verdict, against))
    return numbers, ungraded


def _text(lower: Printed | None, upper: Printed | None) -> str:
    return " ".join("NA" if p is None else p.text for p in (lower, upper))


def _graded(
    qid: str, printed: Printed | None, value: float | None, verdict: str, against: str
) -> NumberGrade:
    from hlmrep.grading.references import describe_quantity

    return {
        "id": qid,
        "quantity": describe_quantity(qid),
        "symbol": None,
        "submitted": "NA" if printed is None else printed.text,
        "reference": None,
        "reference_status": None,
        "reference_note": None,
        "optimum": None if value is None or not np.isfinite(value) else float(value),
        "verdict": verdict,
        "against": against,
        "diagnosis": None,
        "their_fit": None,
    }

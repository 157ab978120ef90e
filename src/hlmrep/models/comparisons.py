"""Likelihood-ratio comparisons of two fitted models, laid out like R's ``anova()``.

Two kinds, declared in config.yaml:

- ``fixed``: models that differ in fixed effects only.  REML criteria of models with
  different fixed effects are not comparable, so both are refitted by ML first, as
  lme4's ``anova()`` does ("refitting model(s) with ML (instead of REML)").
- ``random``: models that differ in their random part only, compared on the criterion they
  were fitted with (REML, as ``anova(..., refit = FALSE)``).  The χ² reference is
  conservative on the boundary τ = 0, so the 50:50 mixture of χ²_{df−1} and χ²_{df}
  (Self & Liang 1987; Stram & Lee 1994) is given beside the naive p-value when the fuller
  model adds one random term (with its covariances).

Models fitted to different rows, a fixed comparison of models with different random parts,
or a random comparison of models with different fixed parts are refused.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal, cast

import pandas as pd

from hlmrep.data.tables import read_prepared
from hlmrep.engine import criterion_of, fit
from hlmrep.engine.likelihood import information_criteria, likelihood_ratio_test
from hlmrep.engine.model import rows_fingerprint
from hlmrep.engine.specification import from_record
from hlmrep.errors import ModelSpecificationError
from hlmrep.files import write_atomically
from hlmrep.records.comparison import COMPARISON, ComparisonRecord
from hlmrep.records.fit import FIT, FitRecord

log = logging.getLogger("hlmrep")

ANOVA_COLUMNS = ["model", "npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]


class ComparisonError(ModelSpecificationError):
    """Two models that a likelihood-ratio test cannot compare."""


def _random_part(record: FitRecord) -> tuple[str, tuple[str, ...]]:
    return record["random_effects"]["group"], tuple(record["random_effects"]["terms"])


def check_comparable(name: str, reduced: FitRecord, full: FitRecord, test: str) -> None:
    """Refuse comparisons that a likelihood-ratio test does not support, saying why."""
    who = f"comparison {name!r} ({reduced['name']} vs {full['name']})"
    if reduced["rows_sha256"] != full["rows_sha256"] or reduced["n_obs"] != full["n_obs"]:
        raise ComparisonError(
            f"{who}: the models were fitted to different rows ({reduced['n_obs']} and "
            f"{full['n_obs']} observations, or different rows dropped for missing values); "
            "a likelihood-ratio test needs the same data"
        )
    if test == "fixed":
        if _random_part(reduced) != _random_part(full):
            raise ComparisonError(
                f"{who}: a fixed-effects comparison needs the same random part, but "
                f"{reduced['name']} has {_random_part(reduced)} and {full['name']} has "
                f"{_random_part(full)}"
            )
    elif test == "random":
        if reduced["fixed_terms"] != full["fixed_terms"]:
            raise ComparisonError(
                f"{who}: a variance-component comparison of REML criteria needs the same "
                f"fixed effects, but they are {reduced['fixed_terms']} and {full['fixed_terms']}"
            )
        if reduced["estimation"] != full["estimation"]:
            raise ComparisonError(f"{who}: one model is fitted by REML, the other by ML")
        if not set(reduced["random_effects"]["terms"]) <= set(full["random_effects"]["terms"]):
            raise ComparisonError(
                f"{who}: the random terms of {reduced['name']} are not a subset of "
                f"{full['name']}'s, so the models are not nested"
            )
    else:
        raise ComparisonError(f"{who}: test must be 'fixed' or 'random', not {test!r}")
    if full["npar"] <= reduced["npar"]:
        raise ComparisonError(f"{who}: the full model must have more parameters than the reduced")


def _row(name: str, record: FitRecord, criterion: float) -> dict[str, Any]:
    return {
        "model": name,
        "npar": record["npar"],
        **information_criteria(criterion, record["npar"], record["n_obs"]),
    }


def compare(
    name: str,
    reduced: FitRecord,
    full: FitRecord,
    test: str,
    data_path: Path | None = None,
) -> ComparisonRecord:
    """The anova() table and tests for one comparison (refits by ML for ``fixed``)."""
    check_comparable(name, reduced, full, test)
    notes = []
    if test == "fixed":
        if data_path is None:
            raise ComparisonError(f"comparison {name!r}: the data are needed to refit by ML")
        data = read_prepared(data_path)
        refits = {}
        for role, record in (("reduced", reduced), ("full", full)):
            result = fit(from_record(record).with_reml(False), data)
            if rows_fingerprint(result) != record["rows_sha256"]:
                raise ComparisonError(f"comparison {name!r}: the ML refit used other rows")
            refits[role] = {"criterion": result.criterion, "verified": result.optimum.verified}
        criteria = {role: refits[role]["criterion"] for role in refits}
        notes.append("refitting model(s) with ML (instead of REML)")
        estimation = "ML"
    else:
        criteria = {"reduced": criterion_of(reduced), "full": criterion_of(full)}
        estimation = reduced["estimation"]
        notes.append(f"{estimation} criteria compared (refit = FALSE)")
        refits = {}
    df = full["npar"] - reduced["npar"]
    # As R's anova(): Chisq = 2 * pmax(0, diff(logLik)); a fuller model a hair worse (only by
    # the optimizers' tolerances) gives 0, not a negative statistic.
    lrt = likelihood_ratio_test(criteria["reduced"], criteria["full"], df)
    chisq, difference, p_naive = lrt.chisq, lrt.criterion_difference, lrt.p_value
    if difference < 0:
        notes.append(
            f"the fuller model's criterion is {-difference:.3g} above the reduced one's; "
            "Chisq set to 0, as R's anova() does"
        )
    rows = [
        _row(reduced["name"], reduced, criteria["reduced"]),
        _row(full["name"], full, criteria["full"]),
    ]
    rows[1].update({"Chisq": chisq, "Df": df, "Pr(>Chisq)": p_naive})
    out: dict[str, Any] = {
        "name": name,
        "test": test,
        "estimation": estimation,
        "reduced": reduced["name"],
        "full": full["name"],
        "reduced_formula": reduced["formula"],
        "full_formula": full["formula"],
        "chisq": chisq,
        "criterion_difference": difference,
        "df": df,
        "p_value": p_naive,
        "table": rows,
        "notes": notes,
        "refits": refits,
    }
    if test == "random":
        added = len(full["random_effects"]["terms"]) - len(reduced["random_effects"]["terms"])
        if added == 1:
            out["p_value_boundary_mixture"] = lrt.p_value_boundary_mixture
            notes.append(
                f"boundary-corrected p: 50:50 mixture of chi-square({df - 1}) and "
                f"chi-square({df}) (Self & Liang 1987; Stram & Lee 1994)"
            )
        else:
            out["p_value_boundary_mixture"] = None
            notes.append("boundary mixture not given: the full model adds more than one term")
    return cast(ComparisonRecord, out)


def compare_job(
    *,
    name: str,
    reduced: Path,
    full: Path,
    test: Literal["fixed", "random"],
    data: Path,
    out_table: Path,
    out_json: Path,
) -> ComparisonRecord:
    """Likelihood-ratio test of two fits, as R's anova(): the table (CSV) and the record.

    ``reduced`` and ``full`` are the two models' fit records; a ``fixed`` test refits both
    by ML on the prepared table (``data``), as anova() does."""
    result = compare(name, FIT.read(reduced), FIT.read(full), test, data)
    table = pd.DataFrame(result["table"]).reindex(columns=ANOVA_COLUMNS)
    write_atomically(Path(out_table), lambda p: table.to_csv(p, index=False))
    COMPARISON.write(out_json, result)
    log.info(
        "%s: Chisq = %.4f on %d df, p = %.4g",
        name,
        result["chisq"],
        result["df"],
        result["p_value"],
    )
    return result

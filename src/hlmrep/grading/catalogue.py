"""The grading catalogue: every number a submission may be compared with, fitted once.

For each reference model (``grading.yaml``) the catalogue holds its candidates:

- ``optimum``: our engine's verified optimum of the reference model;
- ``printed``: the numbers its source printed (vignette or book), with their digits;
- one candidate per mistake of ``mistakes.yaml`` that applies, fitted by the engine
  (e.g. model4 with SES uncentred, or fitted by ML).

For each likelihood-ratio test the same, computed from the fits as R's ``anova()`` does
(refitted by ML or not).  The grading of a submission then only compares numbers: it
reads this file and fits nothing, so thirty submissions cost thirty reads of one file.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from hlmrep.data.tables import read_prepared
from hlmrep.engine.f_tests import METHODS, ROMAN
from hlmrep.grading.references import REFERENCE_LEVELS, ModelSpec, References, f_test_id, load
from hlmrep.models.school_statistics import intraclass_correlation
from hlmrep.records.catalogue import CATALOGUE, Catalogue

if TYPE_CHECKING:
    from hlmrep.engine import LmmResult
    from hlmrep.engine.design import DesignMatrices

log = logging.getLogger("hlmrep")

#: Candidate kinds: correct numbers (the optimum or the printed reference), numbers a
#: known alternative gives that are graded as right, and mistakes.
CORRECT, ACCEPTED, MISTAKE = "correct", "accepted", "mistake"


def analysis_table(prepared: pd.DataFrame) -> pd.DataFrame:
    """The prepared HSB table, plus SES centred on its grand mean and on the school file's
    MEANSES (mistakes' columns); a catalogue entry may put any of its columns in place of a
    model's variable."""
    return prepared.assign(
        ses_grand=prepared["ses"] - prepared["ses"].mean(),
        cses_school_file=prepared["ses"] - prepared["meanses_school_file"],
    )


#: A design's key: the formula, its covariance structure and the school means it reads.
DesignKey = tuple[str, str, str]


def fit_numbers(
    spec: ModelSpec,
    table: pd.DataFrame,
    robust: bool = False,
    designs: dict[DesignKey, DesignMatrices] | None = None,
    tests: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Fit ``spec`` with the engine; its numbers under the reference's quantity ids (with
    the robust SEs for a reference's optimum, which HLM's printouts are graded against;
    with the t and F tests of :data:`TESTS` named in ``tests``, which lmerTest's printouts
    are graded against).
    ``designs``: the design matrices already built, by :data:`DesignKey`; a model's REML
    and ML fits read the same matrices, so a catalogue builds each once."""
    from hlmrep.engine import fit_design, specify

    specification = specify(spec.formula(), spec.reml, REFERENCE_LEVELS, covariance=spec.covariance)
    key = (spec.formula(), str(spec.covariance), spec.meanses)
    design = designs.get(key) if designs is not None else None
    if design is None:
        design = specification.design(table.assign(meanses=table[f"meanses_{spec.meanses}"]))
        if designs is not None:
            designs[key] = design
    result = fit_design(design, specification)
    back = {column: variable for variable, column in spec.replace}
    numbers = result_numbers(result, lambda part: back.get(part, part), robust=robust, tests=tests)
    numbers["formula"] = spec.describe()
    return numbers


def result_numbers(
    result: LmmResult,
    rename: Callable[[str], str],
    robust: bool = False,
    tests: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """A fit's numbers under the reference's quantity ids, each part of a term's name
    (``cses`` of ``cses:sectorCatholic``) renamed by ``rename`` (a mistake's column back to
    the variable it replaced; a student's name to its HSB role); ``robust``: with HLM's
    robust SEs of the fixed effects (``fixed.<term>.robust_se``); ``tests``: with the t and
    F tests lmerTest and lme4 print, those of :data:`TESTS` named (:func:`fixed_effect_tests`)."""

    def name(engine_name: str) -> str:
        return ":".join(rename(part) for part in engine_name.split(":"))

    covariance = result.covariance
    fixed = [name(n) for n in result.fixed_names]
    random = [name(n) for n in result.random_names]
    values: dict[str, float] = {"criterion": result.criterion}
    for term, est, se in zip(fixed, result.beta, result.std_errors, strict=True):
        values[f"fixed.{term}.estimate"] = float(est)
        values[f"fixed.{term}.se"] = float(se)
        values[f"fixed.{term}.t"] = float(est / se)
    if robust:  # HLM prints them beside the model-based SEs
        for term, rse in zip(fixed, result.robust_standard_errors(), strict=True):
            values[f"fixed.{term}.robust_se"] = float(rse)
    cov = result.random_cov.to_numpy()
    for i, term in enumerate(random):
        values[f"random.{term}.variance"] = float(cov[i, i])
        values[f"random.{term}.sd"] = math.sqrt(cov[i, i])
        for j in range(i):
            values[f"random.cov.{random[j]}.{term}"] = float(cov[j, i])
            if covariance == "unstructured":
                values[f"random.corr.{random[j]}.{term}"] = float(
                    cov[j, i] / math.sqrt(cov[i, i] * cov[j, j])
                )
    values["residual.variance"] = result.sigma2
    values["residual.sd"] = result.sigma
    icc = intraclass_correlation(result)  # of a random intercept alone (p. 71)
    if icc is not None:
        values["icc"] = icc
    values["n_obs"], values["n_groups"] = result.n_obs, result.n_groups
    for key, value in result.scaled_residual_quantiles.items():
        values[f"scaled_residuals.{key}"] = value
    if not result.reml:
        values["fit.AIC"], values["fit.BIC"] = result.aic, result.bic
        values["fit.logLik"] = result.loglik
    groups = [random] if covariance == "unstructured" else [[t] for t in random]
    tested_terms: list[str] = []
    if tests:
        computed, tested_terms = fixed_effect_tests(result, name, tests)
        values.update(computed)
    return {
        "formula": result.formula,
        "estimation": "REML" if result.reml else "ML",
        "fixed_terms": fixed,
        "random_groups": groups,
        "n_obs": result.n_obs,
        "n_groups": result.n_groups,
        "npar": result.npar,
        "verified": bool(result.optimum.verified),
        "values": values,
        **({"tested_terms": tested_terms} if "f_tables" in tests else {}),
    }


#: The F tables of a fit a submission may print: (type, the engine's method), REML fits
#: only for Kenward-Roger's (as lmerTest).
F_TABLES = tuple((type_, method) for type_ in (1, 2, 3) for method in METHODS)
#: The tests :func:`fixed_effect_tests` computes, by name.
TESTS = frozenset({"satterthwaite", "kenward_roger", "f_tables"})


def fixed_effect_tests(
    result: LmmResult, name: Callable[[str], str], tests: frozenset[str] = TESTS
) -> tuple[dict[str, float], list[str]]:
    """The tests of a fit's fixed effects that lmerTest and lme4 print, under quantity ids
    (:mod:`hlmrep.engine.f_tests`, :mod:`~hlmrep.engine.satterthwaite`,
    :mod:`~hlmrep.engine.kenward_roger`), and its terms (renamed by ``name``); of
    :data:`TESTS`, those in ``tests`` (a summary's own method, for a fit of its formula):

    - ``satterthwaite``: ``fixed.<term>.df`` and ``.p``, lmerTest's default summary;
    - ``kenward_roger``: ``fixed.<term>.kr_se``, ``.kr_t``, ``.kr_df``, ``.kr_p``, its
      Kenward-Roger summary (REML fits);
    - ``f_tables``: :func:`~hlmrep.grading.references.f_test_id`, each term's F test,
      types I, II and III by both methods, and lme4's own sequential table.

    A family of tests that cannot be computed (a Hessian that is not positive definite) is
    left out, the others kept: a submission's tests are then compared with nothing, never
    with a wrong number."""
    from hlmrep.engine.f_tests import anova, lme4_anova
    from hlmrep.engine.kenward_roger import kenward_roger, kenward_roger_table
    from hlmrep.engine.satterthwaite import ingredients, satterthwaite
    from hlmrep.errors import HlmrepError

    values: dict[str, float] = {}
    f_tables = "f_tables" in tests

    def computed(what: str, compute: Callable[..., Any], *args: Any) -> Any:
        """One family of tests, or None where it cannot be computed (the others stand)."""
        try:
            return compute(*args)
        except (HlmrepError, np.linalg.LinAlgError, ValueError) as error:
            log.warning("no %s of %s: %s", what, result.formula, error)
            return None

    wants_satterthwaite = f_tables or "satterthwaite" in tests
    wants_kr = result.reml and (f_tables or "kenward_roger" in tests)
    parts = computed("Satterthwaite df", ingredients, result) if wants_satterthwaite else None
    adjustment = computed("Kenward-Roger", kenward_roger, result) if wants_kr else None
    rows = satterthwaite(result, parts) if parts is not None and "satterthwaite" in tests else []
    kr_rows = (
        kenward_roger_table(result, adjustment)
        if adjustment is not None and "kenward_roger" in tests
        else []
    )
    tables = []
    for type_, method in F_TABLES if f_tables else ():
        if (parts if method == "satterthwaite" else adjustment) is not None:
            table = computed("F tests", anova, result, type_, method, parts, adjustment)
            if table is not None:
                tables.append(table)
    sequential = lme4_anova(result) if f_tables else ()
    for row in rows:
        values[f"fixed.{name(row.term)}.df"] = row.df
        values[f"fixed.{name(row.term)}.p"] = row.p_value
    for row in kr_rows:
        term = name(row.term)
        values[f"fixed.{term}.kr_se"], values[f"fixed.{term}.kr_t"] = row.std_error, row.t_value
        values[f"fixed.{term}.kr_df"], values[f"fixed.{term}.kr_p"] = row.df, row.p_value
    for table in tables:
        method = table.method.replace("-", "_")
        for f_row in table.rows:
            term = name(f_row.term)
            cells = (
                ("sum_sq", f_row.sum_sq),
                ("mean_sq", f_row.mean_sq),
                ("num_df", float(f_row.num_df)),
                ("den_df", f_row.den_df),
                ("F", f_row.f_value),
                ("p", f_row.p_value),
            )
            for column, value in cells:
                values[f_test_id(ROMAN[table.type], method, term, column)] = value
    for s_row in sequential:
        term = name(s_row.term)
        sequential_cells = (
            ("num_df", float(s_row.npar)),
            ("sum_sq", s_row.sum_sq),
            ("mean_sq", s_row.mean_sq),
            ("F", s_row.f_value),
        )
        for column, value in sequential_cells:
            values[f_test_id("I", "lme4", term, column)] = value
    return values, [name(s_row.term) for s_row in sequential]


#: The student-level codings whose levels a submission may have fitted alone.
SUBSET_COLUMNS = {
    "sector": "sector = {level} schools only",
    "minority": "minority = {level} students only",
    "female": "female = {level} students only",
}


def subsets(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The samples a submission may have used instead of the whole of HSB, with their
    numbers of students and schools: each school left out, each level of sector, minority
    and female alone.  A summary whose n and J are one of these names it."""
    out: list[dict[str, Any]] = []
    n_obs, n_groups = len(table), int(table["school"].nunique())
    for school, size in table.groupby("school", observed=True).size().items():
        out.append(
            {
                "description": f"school {school} left out",
                "n_obs": n_obs - int(size),
                "n_groups": n_groups - 1,
            }
        )
    for column, words in SUBSET_COLUMNS.items():
        for level, rows in table.groupby(column, observed=True):
            out.append(
                {
                    "description": words.format(level=level),
                    "n_obs": len(rows),
                    "n_groups": int(rows["school"].nunique()),
                }
            )
    return out


class _Fits:
    """Each distinct model fitted once, REML and ML (an LRT may refit by ML)."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        self.cache: dict[tuple[ModelSpec, bool], dict[str, Any]] = {}
        self.designs: dict[DesignKey, DesignMatrices] = {}

    def __call__(self, spec: ModelSpec, robust: bool = False) -> dict[str, Any]:
        if (spec, robust) not in self.cache:
            self.cache[spec, robust] = fit_numbers(
                spec, self.table, robust, self.designs, tests=TESTS
            )
        return self.cache[spec, robust]


def _printed_candidate(printed: dict, kind: str, entry: str | None) -> dict[str, Any]:
    return {
        "id": "printed",
        "kind": kind,
        "mistake": entry,
        "values": {q: v.value for q, v in printed.items()},
        "digits": {q: v.digits for q, v in printed.items()},
        "bounds": {q: v.bound for q, v in printed.items() if v.bound},
    }


def _lrt_values(reduced: dict, full: dict, n_obs: int) -> dict[str, float]:
    """What ``anova(reduced, full)`` prints from the two fits' criteria (R's anova.merMod)."""
    from hlmrep.engine.likelihood import information_criteria, likelihood_ratio_test

    out: dict[str, float] = {}
    for role, fitted in (("reduced", reduced), ("full", full)):
        deviance, npar = fitted["values"]["criterion"], fitted["npar"]
        out[f"{role}.npar"] = npar
        for key, value in information_criteria(deviance, npar, n_obs).items():
            out[f"{role}.{key}"] = value
    lrt = likelihood_ratio_test(
        out["reduced.deviance"], out["full.deviance"], full["npar"] - reduced["npar"]
    )
    out["chisq"], out["df"], out["p_value"] = lrt.chisq, lrt.df, lrt.p_value
    return out


def build(prepared: pd.DataFrame, references: References | None = None) -> Catalogue:
    """Fit the reference models and every applicable mistake; the catalogue as JSON data."""
    refs = references or load()
    table = analysis_table(prepared)
    fits = _Fits(table)
    accepted_printed = {
        model: m.id
        for m in refs.mistakes.values()
        if m.kind == ACCEPTED and m.derive.get("values") == "printed"
        for model in refs.models
        if m.applies(model)
    }
    models: dict[str, Any] = {}
    for name, model in refs.models.items():
        optimum = fits(model.spec, robust=True)
        candidates = [{"id": "optimum", "kind": CORRECT, "mistake": None, **optimum}]
        if model.printed:
            kind = ACCEPTED if name in accepted_printed else CORRECT
            candidates.append(_printed_candidate(model.printed, kind, accepted_printed.get(name)))
        for mistake in refs.mistakes.values():
            spec = mistake.derive_model(model.spec) if mistake.applies(name) else None
            if spec is not None:
                candidates.append(
                    {"id": mistake.id, "kind": mistake.kind, "mistake": mistake.id, **fits(spec)}
                )
        models[name] = {
            "title": model.title,
            "where": model.where,
            "source": model.source,
            "formula": model.spec.describe(),
            "printed": {q: vars(v) for q, v in model.printed.items()},
            "symbols": model.symbols,
            "candidates": candidates,
        }
    lrts: dict[str, Any] = {}
    n_obs = len(table)
    for name, lrt in refs.lrts.items():
        reduced, full = refs.models[lrt.reduced].spec, refs.models[lrt.full].spec

        def compare(a: ModelSpec, b: ModelSpec, refit: bool) -> dict[str, float]:
            if refit:
                a, b = replace(a, reml=False), replace(b, reml=False)
            return _lrt_values(fits(a), fits(b), n_obs)

        candidates = [
            {
                "id": "optimum",
                "kind": CORRECT,
                "mistake": None,
                "refit": lrt.refit,
                "values": compare(reduced, full, lrt.refit),
            },
            {**_printed_candidate(lrt.printed, CORRECT, None), "refit": lrt.refit},
        ]
        for mistake in refs.mistakes.values():
            if mistake.applies(name) and "refit" in mistake.derive:
                refit = bool(mistake.derive["refit"])
                candidates.append(
                    {
                        "id": mistake.id,
                        "kind": mistake.kind,
                        "mistake": mistake.id,
                        "refit": refit,
                        "values": compare(reduced, full, refit),
                    }
                )
                continue
            a = mistake.derive_model(reduced) if mistake.applies(lrt.reduced) else None
            b = mistake.derive_model(full) if mistake.applies(lrt.full) else None
            if a is None or b is None:
                continue  # a mistake in one model only is a different pair of models
            candidates.append(
                {
                    "id": mistake.id,
                    "kind": mistake.kind,
                    "mistake": mistake.id,
                    "refit": lrt.refit,
                    "values": compare(a, b, lrt.refit),
                }
            )
        lrts[name] = {
            "title": lrt.title,
            "where": lrt.where,
            "source": lrt.source,
            "reduced": lrt.reduced,
            "full": lrt.full,
            "refit": lrt.refit,
            "tests": lrt.tests,
            "stars": lrt.stars,
            "printed": {q: vars(v) for q, v in lrt.printed.items()},
            "symbols": lrt.symbols,
            "candidates": candidates,
        }
    catalogue = {
        "data": {
            "n_obs": n_obs,
            "n_groups": int(table["school"].nunique()),
            "mean_ses": float(np.mean(table["ses"])),
            "subsets": subsets(table),
        },
        "models": models,
        "lrts": lrts,
        "mistakes": {
            m.id: {
                "title": m.title,
                "explanation": m.explanation,
                "fix": m.fix,
                "kind": m.kind,
            }
            for m in refs.mistakes.values()
        },
    }
    return cast(Catalogue, catalogue)


def catalogue_job(*, data: Path, out: Path) -> Catalogue:
    """Fit every reference model and every catalogued mistake once, with the engine.

    Each grading job then compares numbers and fits nothing; ``data`` is the prepared
    table."""
    catalogue = build(read_prepared(data))
    CATALOGUE.write(out, catalogue)
    count = sum(len(entry["candidates"]) for entry in catalogue["models"].values())
    log.info(
        "grading catalogue: %d model candidates, %d mistakes", count, len(catalogue["mistakes"])
    )
    return catalogue

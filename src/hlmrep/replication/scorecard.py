"""The replication scorecard: every reference number beside ours, with a verdict.

Rows come from the reference files (``hlmrep/reference``) and our values from the results
files (through :mod:`hlmrep.replication.textbook`); nothing is recomputed here.  Verdicts:

- ``replicated``: within tolerance (the rounding rule from the printed digits, an explicit
  ``tol``, or a Monte-Carlo tolerance for bootstrap quantities);
- ``differs (explained)``: outside tolerance, with an explanation the pipeline has
  established (``reference/explanations.yaml``, each citing its test);
- ``reference disputed``: outside tolerance of a value the reference marks ``disputed``;
- ``differs`` or ``missing``: a number that should replicate and does not: ``check`` fails.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd
from scipy import special

from hlmrep.errors import HlmrepError, InputDataError
from hlmrep.files import sha256, write_atomically
from hlmrep.records.scorecard import SCORECARD, Scorecard, ScorecardRow, ScorecardSummary
from hlmrep.replication.reference import load, rounding_tolerance
from hlmrep.replication.textbook import Results, textbook_values

log = logging.getLogger("hlmrep")

REPLICATED = "replicated"
EXPLAINED = "differs (explained)"
DISPUTED = "reference disputed"
DIFFERS = "differs"
MISSING = "missing"
FAILING = {DIFFERS, MISSING}

#: lme4's confint(method = "boot") default; the vignette does not print its nsim.
VIGNETTE_BOOT_NSIM = 500
#: Bonferroni over the 12 bootstrap interval endpoints at a family-wise 1%.
BOOT_Z = float(special.ndtri(1 - 0.01 / 24))
#: Seed names that differ from ours.
SEED_NAMES = {"mean.ses": "meanses"}


@dataclass
class Row:
    """One reference number beside ours; its dict is a
    :class:`~hlmrep.records.scorecard.ScorecardRow`."""

    id: str
    source: str  # textbook | vignette
    section: str
    quantity: str
    reference: Any
    ours: Any
    difference: float | None
    tolerance: float | None
    tolerance_rule: str
    status: str  # agreed | disputed | seed
    verdict: str
    explanation: str


def explanations() -> dict[str, str]:
    """Why a number differs where the reason is established (reference/explanations.yaml)."""
    return load("explanations")


def judge(
    row_id: str,
    ours: Any,
    reference: Any,
    tolerance: float,
    status: str,
    notes: dict[str, str],
    reference_note: str = "",
) -> tuple[str, float | None, str]:
    """Verdict, difference and explanation of one number (lists compare elementwise)."""
    if ours is None or (isinstance(ours, float) and math.isnan(ours)):
        return MISSING, None, "no result file holds this number"
    pairs = (
        list(zip(ours, reference, strict=True))
        if isinstance(reference, list)
        else [(ours, reference)]
    )
    differences = [float(a) - float(b) for a, b in pairs]
    worst = max(differences, key=abs)
    if all(abs(d) <= tolerance for d in differences):
        return REPLICATED, worst, ""
    for pattern, text in notes.items():
        if fnmatch.fnmatchcase(row_id, pattern):
            return EXPLAINED, worst, " ".join(text.split())
    if status == "disputed":
        return DISPUTED, worst, reference_note or "the reference's sources disagree"
    return DIFFERS, worst, ""


def _rounding_rule(digits: int) -> str:
    return f"rounding: printed with {digits} decimals, |diff| <= 0.5e-{digits}"


def textbook_rows(results: Results, notes: dict[str, str]) -> list[Row]:
    reference = load("textbook_ch4")["tables"]
    try:
        ours_all = textbook_values(results)
    except FileNotFoundError:
        ours_all = {}
    rows = []
    for table, spec in reference.items():
        ours_table = ours_all.get(table, {})
        for key, entry in spec["values"].items():
            row_id = f"textbook.{table}.{key}"
            tolerance = entry.get("tol", rounding_tolerance(entry["digits"]))
            rule = (
                f"explicit tol {entry['tol']}"
                if "tol" in entry
                else _rounding_rule(entry["digits"])
            )
            ours = ours_table.get(key)
            verdict, difference, why = judge(
                row_id,
                ours,
                entry["value"],
                tolerance,
                entry["status"],
                notes,
                entry.get("note", ""),
            )
            section = f"{spec['title']} (p. {spec.get('page', spec.get('pages'))})"
            rows.append(
                Row(
                    row_id,
                    "textbook",
                    section,
                    key,
                    entry["value"],
                    ours,
                    difference,
                    tolerance,
                    rule,
                    entry["status"],
                    verdict,
                    why,
                )
            )
            if "df" in entry:  # a χ² statistic's degrees of freedom: an exact integer
                df_id = f"{row_id}.df"
                ours_df = ours_table.get(f"{key}_df")
                verdict, difference, why = judge(df_id, ours_df, entry["df"], 0, "agreed", notes)
                rows.append(
                    Row(
                        df_id,
                        "textbook",
                        section,
                        f"{key} df",
                        entry["df"],
                        ours_df,
                        difference,
                        0,
                        "exact: degrees of freedom",
                        "agreed",
                        verdict,
                        why,
                    )
                )
    return rows


def _ours_name(term: str) -> str:
    for theirs, ours in SEED_NAMES.items():
        term = term.replace(theirs, ours)
    return term


def _seed_model_values(
    results: Results, model: str, spec: dict[str, Any]
) -> list[tuple[str, Any, Any, int]]:
    """(id suffix, ours, reference, digits) for every number printed for a seed model."""
    fit = results.fit(model)
    out = [
        (
            "reml_criterion",
            fit["reml_criterion"],
            spec["reml_criterion"]["value"],
            spec["reml_criterion"]["digits"],
        )
    ]
    for key, entry in spec["scaled_residuals"].items():
        out.append(
            (
                f"scaled_residuals.{key}",
                fit["scaled_residuals"][key],
                entry["value"],
                entry["digits"],
            )
        )
    terms = {"intercept": "(Intercept)", "cses": "cses", "minorityYes": "minorityYes"}
    for key, entry in spec["random"].items():
        if key.startswith("residual"):
            ours = fit["residual_variance"] if key.endswith("var") else fit["sigma"]
        elif key.startswith("corr_"):
            a, b = key.removeprefix("corr_").split("_")
            ours = results.correlation(model, terms[a], terms[b])
        else:
            term = terms[key.removeprefix("school_").rsplit("_", 1)[0]]
            variance = results.tau(model, term)
            ours = variance if key.endswith("_var") else math.sqrt(variance)
        out.append((f"random.{key}", ours, entry["value"], entry["digits"]))
    for term, entry in spec["fixed"].items():
        name = _ours_name(term)
        digits = entry["digits"]
        estimate = results.fixed(model, name)
        se = results.fixed(model, name, "std_error")
        out += [
            (f"fixed.{term}.estimate", estimate, entry["estimate"], digits[0]),
            (f"fixed.{term}.se", se, entry["se"], digits[1]),
            (f"fixed.{term}.t", estimate / se, entry["t"], digits[2]),
        ]
    names = fit["fixed_terms"]
    for pair, entry in spec["fixed_correlation"].items():
        a, b = (_ours_name(part) for part in pair.split(","))
        value = fit["fixed_correlation"][names.index(a)][names.index(b)]
        out.append((f"fixed_correlation.{pair}", value, entry["value"], entry["digits"]))
    return out


def vignette_rows(results: Results, notes: dict[str, str]) -> list[Row]:
    seed = load("seed_lme4")
    rows: list[Row] = []

    def add(
        row_id: str,
        section: str,
        quantity: str,
        ours: Any,
        reference: Any,
        tolerance: float,
        rule: str,
    ) -> None:
        verdict, difference, why = judge(row_id, ours, reference, tolerance, "seed", notes)
        rows.append(
            Row(
                row_id,
                "vignette",
                section,
                quantity,
                reference,
                ours,
                difference,
                tolerance,
                rule,
                "seed",
                verdict,
                why,
            )
        )

    for model in ("model3", "model3a", "model4"):
        spec = seed["models"][model]
        section = f"{model}: {spec['formula']}"
        try:
            values = _seed_model_values(results, model, spec)
        except HlmrepError:
            raise  # an unreadable results file is an error, not a missing number
        except (FileNotFoundError, KeyError, ValueError):
            values = []
            add(f"seed.models.{model}", section, "fit", None, "printed fit", 0.0, "-")
        for suffix, ours, reference, digits in values:
            add(
                f"seed.models.{model}.{suffix}",
                section,
                suffix,
                ours,
                reference,
                rounding_tolerance(digits),
                _rounding_rule(digits),
            )
    entry = seed["models"]["level1_variance_reduction_3_to_3a"]
    try:
        reduction = results.explained("model3_to_model3a")["sigma2"]
    except (FileNotFoundError, KeyError):
        reduction = None
    add(
        "seed.models.level1_variance_reduction_3_to_3a",
        "model3 to model3a",
        "level-1 variance reduction",
        reduction,
        entry["value"],
        rounding_tolerance(4),
        "4 decimals (the printed value has more digits than it can support)",
    )
    _lrt_rows(results, seed, add)
    _bootstrap_rows(results, seed, add)
    return rows


def _lrt_rows(results: Results, seed: dict[str, Any], add: Any) -> None:
    for name in ("fixed_minority", "random_cses_slope"):
        entry = seed["lrt"][name]
        section = f"anova(): {entry['description']}"
        try:
            comparison = results.comparison(name)
        except FileNotFoundError:
            add(f"seed.lrt.{name}", section, "comparison", None, "table", 0.0, "-")
            continue
        add(
            f"seed.lrt.{name}.chisq",
            section,
            "Chisq",
            comparison["chisq"],
            entry["chisq"]["value"],
            rounding_tolerance(entry["chisq"]["digits"]),
            _rounding_rule(entry["chisq"]["digits"]),
        )
        if isinstance(entry["p_value"], dict):
            add(
                f"seed.lrt.{name}.p_value",
                section,
                "Pr(>Chisq)",
                comparison["p_value"],
                entry["p_value"]["value"],
                rounding_tolerance(entry["p_value"]["digits"]),
                _rounding_rule(entry["p_value"]["digits"]),
            )
        else:  # printed as "< 2.2e-16"
            add(
                f"seed.lrt.{name}.p_value",
                section,
                "Pr(>Chisq) < 2.2e-16",
                min(comparison["p_value"], 2.2e-16),
                0.0,
                2.2e-16,
                "below 2.2e-16",
            )
        for row, role in zip(comparison["table"], ("null", "full"), strict=True):
            for column in ("npar", "AIC", "BIC", "logLik", "deviance"):
                add(
                    f"seed.lrt.{name}.table.{role}.{column}",
                    section,
                    f"{role} {column}",
                    row[column],
                    entry["table"][role][column],
                    rounding_tolerance(0),
                    _rounding_rule(0),
                )


def _bootstrap_rows(results: Results, seed: dict[str, Any], add: Any) -> None:
    pb = seed["lrt"]["parametric_bootstrap_minority"]
    section = f"PBmodcomp: {pb['description']}"
    try:
        summary = results.bootstrap("pb_minority")
        add(
            "seed.lrt.parametric_bootstrap_minority.extremes",
            section,
            "extremes",
            summary["extremes"],
            pb["extremes"],
            0.0,
            "exact count",
        )
        add(
            "seed.lrt.parametric_bootstrap_minority.pb_p_value",
            section,
            "PB p-value",
            summary["p_value"],
            pb["pb_p_value"],
            rounding_tolerance(6),
            _rounding_rule(6),
        )
    except FileNotFoundError:
        add("seed.lrt.parametric_bootstrap_minority", section, "PB test", None, "p", 0.0, "-")
    reference = seed["models"]["model3"]["bootstrap_ci"]
    section = "confint(model3, method = 'boot')"
    try:
        summary = results.bootstrap("ci_model3")
    except FileNotFoundError:
        add("seed.models.model3.bootstrap_ci", section, "intervals", None, "CI", 0.0, "-")
        return
    for param, bounds in reference.items():
        if param == "level":
            continue
        ours = summary["intervals"][param]
        limits = {
            "lower": (ours["lower"], ours["lower_mc_se"]),
            "upper": (ours["upper"], ours["upper_mc_se"]),
        }
        for end, ref in zip(limits, bounds, strict=True):
            limit, se = limits[end]
            tolerance = BOOT_Z * math.sqrt(se**2 * (1 + summary["nsim"] / VIGNETTE_BOOT_NSIM))
            add(
                f"seed.models.model3.bootstrap_ci.{param}.{end}",
                section,
                f"{param} {end}",
                limit,
                ref,
                tolerance,
                f"Monte Carlo: {BOOT_Z:.2f} x combined MC SE (ours, nsim {summary['nsim']}; "
                f"vignette's assumed {VIGNETTE_BOOT_NSIM})",
            )


def build(inputs: Mapping[str, str | Path]) -> tuple[list[Row], dict[str, str]]:
    """All scorecard rows from the results files given by key (:class:`Results`), and the
    SHA-256 of every file they read."""
    results = Results(inputs)
    notes = explanations()
    rows = textbook_rows(results, notes) + vignette_rows(results, notes)
    return rows, {name: sha256(path) for name, path in sorted(results.files.items())}


def summarize(rows: list[Row]) -> ScorecardSummary:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.verdict] = counts.get(row.verdict, 0) + 1
    return {
        "rows": len(rows),
        "counts": counts,
        "failing": [row.id for row in rows if row.verdict in FAILING],
        "differences": [row.id for row in rows if row.verdict != REPLICATED],
    }


def write(
    rows: list[Row], out_json: Path, out_csv: Path, inputs: dict[str, str] | None = None
) -> ScorecardSummary:
    summary = summarize(rows)
    # Paths relative to the scorecard's folder, so that `check` finds them from any cwd.
    relative = {
        os.path.relpath(name, Path(out_json).parent): digest
        for name, digest in (inputs or {}).items()
    }
    payload: Scorecard = {
        "summary": summary,
        "inputs": relative,
        "rows": [cast(ScorecardRow, asdict(row)) for row in rows],  # checked when written
    }
    SCORECARD.write(out_json, payload)
    frame = pd.DataFrame([asdict(row) for row in rows])
    write_atomically(Path(out_csv), lambda p: frame.to_csv(p, index=False))
    return summary


def scorecard_job(*, input: dict[str, Path], out_json: Path, out_csv: Path) -> ScorecardSummary:
    """Every reference number (textbook, vignette) beside ours, with tolerance and verdict.

    ``input`` gives each results file by key (``fits/model3``, ``comparisons/NAME``, …:
    :class:`~hlmrep.replication.textbook.Results`)."""
    rows, files = build(input)
    summary = write(rows, out_json, out_csv, files)
    log.info("scorecard: %s", summary["counts"])
    return summary


def stale_inputs(payload: Scorecard, folder: Path) -> list[str]:
    """Results files that changed, or went missing, since the scorecard was built."""
    stale = []
    for name, digest in payload["inputs"].items():
        path = Path(os.path.normpath(folder / name))
        if not path.is_file():
            stale.append(f"{name} is missing")
        elif sha256(path) != digest:
            stale.append(f"{name} changed")
    return stale


def check(scorecard_json: Path) -> list[str]:
    """Ids of the rows that should replicate and do not (empty: the check passes).

    Refuses (InputDataError) a scorecard that is missing, unreadable, not a scorecard
    (:data:`~hlmrep.records.scorecard.SCORECARD`), or older than the results it was built
    from: a check must not pass on numbers that are no longer there.
    """
    payload = SCORECARD.read(Path(scorecard_json))
    stale = stale_inputs(payload, Path(scorecard_json).parent)
    if stale:
        raise InputDataError(
            f"scorecard {scorecard_json} is out of date: {'; '.join(stale)} since it was "
            "built; rerun the workflow (snakemake --cores all) before checking"
        )
    return [row["id"] for row in payload["rows"] if row["verdict"] in FAILING]

"""Grade one submission against the references, number by number, and name its mistakes.

For each model or test found in the submission:

1. match it (:mod:`hlmrep.grading.matching`): every candidate of every reference, i.e.
   verified optimum, printed numbers and known mistakes, scored; the best names the
   reference attempted, how sure the match is, and, if it is a mistake, the diagnosis;
2. grade each submitted number (:mod:`hlmrep.grading.verdicts`) against the reference's
   printed number and against our verified optimum; the better verdict counts and the
   grade says which it was against (they differ for model3a, where the vignette printed
   lme4's stopping point, and in model4's 4th digit);
3. the diagnosis is decided from what these found (:mod:`hlmrep.grading.diagnosis`,
   nowhere else): each block gathers its :class:`~.diagnosis.Evidence` and
   :func:`_conclude` asks once.

The result is a typed record (:class:`~hlmrep.records.grade.ModelGrade` per block);
:mod:`hlmrep.grading.pages` renders it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
from pathlib import Path
from typing import Any, cast

import pandas as pd

from hlmrep.grading import combinations, diagnosis, matching, their_model, verdicts
from hlmrep.grading.diagnosis import Evidence
from hlmrep.grading.inventory import visible
from hlmrep.grading.matching import Alignment, Score
from hlmrep.grading.printout import (
    Anova,
    Coefficients,
    FTests,
    Intervals,
    Printed,
    Reported,
    Summary,
    r_format_decimals,
)
from hlmrep.grading.readers import (
    NOT_PRINTED,
    PRINTED_UNITS,
    PROGRAM_TOLERANCE,
    PROGRAMS,
    ROW_DIGITS,
    SIGNIFICANT_DIGITS,
)
from hlmrep.grading.references import F_METHOD_WORDS, describe_quantity, load
from hlmrep.grading.settings import DEFAULTS
from hlmrep.grading.submission import Submission, SubmissionError, read_bytes, recognise
from hlmrep.grading.their_model import TheirModel
from hlmrep.grading.verdicts import Number, unit_of_digits
from hlmrep.records.catalogue import Candidate, Catalogue, Entry
from hlmrep.records.grade import BlockKind, Diagnosis, ModelGrade, NumberGrade

#: Quantities a printed lme4 summary never shows, so their absence is not "missing".
#: (an ICC is printed by packages that compute it, sjPlot and performance, beside a fit)
NOT_IN_SUMMARIES = ("random.cov.", "icc")
#: Blocks graded per file: a lab's output has a handful; more is pasted noise, and each
#: block is matched against every candidate.
MAX_BLOCKS = 50


def _entry(catalogue: Catalogue, target: str) -> Entry:
    """A reference model's or LRT's entry of the catalogue."""
    return catalogue["models" if target in catalogue["models"] else "lrts"][target]


def _optimum(entry: Entry) -> Candidate:
    return next(c for c in entry["candidates"] if c["id"] == "optimum")


def match_summary(
    summary: Summary, catalogue: Catalogue, prefer: str, targets: list[str] | None = None
) -> tuple[Score, list[Score]]:
    scores = []
    for target in targets or load().summary_targets(prefer):
        entry = catalogue["models"][target]
        optimum = _optimum(entry)
        for candidate in entry["candidates"]:
            alignment = matching.align_summary(summary, candidate, optimum)
            scored = matching.score(target, candidate, alignment)
            scored.target_rank = 0 if entry["printed"] else 1
            scores.append(scored)
    return matching.best_match(scores)


def match_numbers(
    numbers: dict[str, Printed], targets: dict[str, Any]
) -> tuple[Score, list[Score]]:
    scores = [
        matching.score(name, candidate, Alignment(dict(numbers)))
        for name, entry in targets.items()
        for candidate in entry["candidates"]
    ]
    return matching.best_match(scores)


def _tolerance(qid: str, tolerances: dict[str, float] | None) -> float:
    """How far a program's own computation of ``qid`` may be from the optimum (relative)."""
    return max(
        (t for pattern, t in (tolerances or {}).items() if fnmatch.fnmatchcase(qid, pattern)),
        default=0.0,
    )


def _row_units(entry: Entry, row_digits: dict[str, int]) -> dict[str, float]:
    """The last digit a program prints each row of quantities at under its fewest-digit
    options (:attr:`Program.row_digits`), from the reference optimum's values: R prints
    the scaled residuals -3.15926 … 0.01704 … 2.95822 at 3 significant digits as
    -3.159 … 0.017 … 2.958, every digit ``options(digits = 3)`` allows."""
    values = _optimum(entry)["values"]
    units = {}
    for pattern, digits in row_digits.items():
        row = [
            v
            for qid, v in values.items()
            if fnmatch.fnmatchcase(qid, pattern) and v is not None and v == v
        ]
        if row:
            units[pattern] = 10.0 ** -r_format_decimals(row, digits)
    return units


def _significant_units(entry: Entry, digits: int) -> dict[str, float]:
    """The last digit of each quantity printed at ``digits`` significant digits (a
    tibble's 3: 12.1 for 12.1279, 0.318 for 0.3181), from the reference optimum's values."""
    units = {}
    for qid, value in _optimum(entry)["values"].items():
        if digits and value is not None and value == value and value != 0 and abs(value) < math.inf:
            units[qid] = 10.0 ** (math.floor(math.log10(abs(value))) - (digits - 1))
    return units


def _grade_number(
    qid: str,
    submitted: Printed,
    entry: Entry,
    stars: bool,
    significant_digits: int,
    printed_units: dict[str, float],
    program_tolerance: dict[str, float] | None = None,
) -> NumberGrade | None:
    """One number against the printed reference and the verified optimum; too coarse when
    it replicates only at fewer digits than the assignment needs (verdicts.required_unit)."""
    printed = entry["printed"].get(qid)
    optimum = _optimum(entry)["values"].get(qid)
    if printed is None and optimum is None:
        return None
    kind = {"count": matching.is_count(qid), "p_value": matching.is_p_value(qid), "stars": stars}
    mine = matching.number(submitted)
    results = []
    if printed is not None:
        reference = Number(printed["value"], unit_of_digits(printed["digits"]), printed["bound"])
        results.append((verdicts.verdict(mine, reference, **kind), "printed"))
    if optimum is not None and optimum == optimum:
        results.append((verdicts.verdict(mine, Number(optimum, 0.0), **kind), "optimum"))
    verdict = verdicts.best([v for v, _ in results])
    against = next(a for v, a in results if v == verdict)
    tolerance = _tolerance(qid, program_tolerance)
    if (
        tolerance > 0
        # a count is equal or wrong, a bound holds or not, a decision is a decision: a
        # program's own computation of them is never "nearly" ours
        and not (kind["count"] or submitted.bound or verdict == verdicts.DECISION)
        and verdict not in verdicts.REPLICATED
        and optimum is not None
        and math.isfinite(mine.value)
        and abs(mine.value - optimum) <= tolerance * abs(optimum) + mine.unit
    ):
        verdict, against = verdicts.ROUNDING, "optimum, as its program computes it"
    if not (kind["count"] or kind["p_value"]):
        value, unit = (
            (printed["value"], unit_of_digits(printed["digits"]))
            if printed is not None
            else (optimum, 0.0)
        )
        if value is not None:
            floor = max(
                (u for pattern, u in printed_units.items() if fnmatch.fnmatchcase(qid, pattern)),
                default=0.0,
            )
            allowed = max(floor, verdicts.required_unit(value, unit, significant_digits))
            verdict = verdicts.coarsened(verdict, mine, allowed)
    return {
        "id": qid,
        "quantity": describe_quantity(qid),
        "symbol": entry.get("symbols", {}).get(qid),
        "submitted": submitted.text if not submitted.bound else f"< {submitted.text}",
        "reference": (
            None
            if printed is None
            else (f"< {printed['text']}" if printed["bound"] else printed["text"])
        ),
        "reference_status": None if printed is None else printed["status"],
        "reference_note": None if printed is None else printed["note"] or None,
        "optimum": optimum,
        "verdict": verdict,
        "against": against,
        "diagnosis": None,
    }


def grade_match(
    label: str,
    kind: BlockKind,
    best: Score,
    ties: list[Score],
    catalogue: Catalogue,
    check_missing: bool = True,
    not_printed: tuple[str, ...] = (),
    significant_digits: int = verdicts.MIN_SIGNIFICANT_DIGITS,
    printed_units: dict[str, float] | None = None,
    entry_override: Entry | None = None,
    program_tolerance: dict[str, float] | None = None,
    row_digits: dict[str, int] | None = None,
    program_digits: int = 0,
) -> tuple[ModelGrade, Evidence]:
    """The grade of one submitted model or test, given its best match, and the evidence
    for its diagnosis (:func:`_conclude` decides it).

    ``not_printed``: patterns of the quantities the submission's printout never shows
    (nlme's variances, ranova()'s BIC), which are then not counted as missing;
    ``printed_units``: the last digit its program always prints a quantity at, below which
    no number is asked for (lme4's correlations: 0.01)."""
    entry = entry_override or _entry(catalogue, best.target)
    candidate = best.candidate
    if candidate["kind"] == "accepted" and candidate["id"] not in ("printed", "optimum"):
        # a known alternative with numbers of its own (an LRT of a variance on ML refits):
        # graded against them, not against the source's other computation
        entry = cast(
            Entry, {**entry, "printed": {}, "candidates": [{**candidate, "id": "optimum"}]}
        )
    stars = bool(entry.get("stars"))
    printed_units = {
        **(printed_units or {}),
        **_row_units(entry, row_digits or {}),
        **_significant_units(entry, program_digits),
    }
    numbers: list[NumberGrade] = []
    ungraded = []
    for qid, submitted in best.alignment.numbers.items():
        graded = _grade_number(
            qid, submitted, entry, stars, significant_digits, printed_units or {}, program_tolerance
        )
        if graded is None:
            ungraded.append({"id": qid, "submitted": submitted.text})
            continue
        graded["their_fit"] = (
            candidate["values"].get(qid) if candidate["id"] == THEIR_MODEL else None
        )
        graded["diagnosis"] = diagnosis.number_diagnosis(
            qid, submitted, graded, candidate, entry, catalogue
        )
        numbers.append(graded)
    present = {n["id"] for n in numbers}
    missing = []
    if check_missing:
        missing = [
            qid
            for qid in entry["printed"]
            if qid not in present
            and not qid.startswith(NOT_IN_SUMMARIES)
            and not any(fnmatch.fnmatchcase(qid, pattern) for pattern in not_printed)
        ]
    sample = _sample(best.alignment.numbers, catalogue)
    evidence = Evidence(
        candidate_mistake=candidate.get("mistake"),
        combined=list(candidate.get("mistakes", [])),
        sd_as_variance=any(n["diagnosis"] == diagnosis.SD_AS_VARIANCE for n in numbers),
    )
    confidence = best.confidence
    grade: ModelGrade = {
        "label": label,
        "kind": kind,
        "target": best.target,
        "target_title": entry["title"],
        "target_where": entry["where"],
        "target_formula": entry.get("formula"),
        "confidence": confidence,
        "matched": {
            "candidate": candidate["id"],
            "kind": candidate["kind"],
            "formula": candidate.get("formula"),
            "agree": best.agree,
            "compared": best.compared,
            "differences": best.alignment.differences,
        },
        "matches_known": confidence != "low",
        "diagnosis": None,
        "also_consistent_with": [t.candidate["mistake"] for t in ties],
        "names": best.alignment.names,
        "differences": [],
        "sample": sample,
        "numbers": numbers,
        "ungraded": ungraded,
        "missing": missing,
        "part_of_assignment": True,
    }
    return grade, evidence


def grade_their_model(
    label: str,
    summary: Summary,
    their: TheirModel,
    catalogue: Catalogue,
    targets: list[str],
    significant_digits: int,
) -> tuple[ModelGrade, Evidence]:
    """The grade of a printed summary whose formula was fitted (:mod:`.their_model`), and
    the evidence for its diagnosis.

    The reference attempted is the one the model written differs least from; every
    difference is named, with its fix.  The numbers are lined up by the formula's names and
    graded against the reference: in the student's own parametrisation when theirs is an
    equivalent one (a relevelled factor, standardised SES), against our fit of the
    reference model in that parametrisation."""
    refs = load()
    scored = []
    for target in targets:
        found = their_model.differences(their.spec, target, refs, their.variant.sample)
        printed_rank = 0 if catalogue["models"][target]["printed"] else 1
        shared = their_model.shared_terms(their.spec, refs.models[target].spec)
        scored.append((len(found), -shared, printed_rank, target, found))
    # fewest differences; of two as near, the one with more terms in common (both
    # interactions left out of model4 is model4 without them, not model3 with extras)
    count, _, _, target, found = min(scored, key=lambda s: s[:3])
    program = PROGRAMS.get(summary.program)
    if summary.converged is False:
        found = [their_model.not_converged(summary.program), *found]
        if their.computation not in ("correct", "penalised"):
            their.computation = "not converged"
    if program is not None and program.penalised:
        priors = [n for n in summary.notes if "prior" in n]
        found = [their_model.with_prior(program.title, priors), *found]
    entry = _entry(catalogue, target)
    optimum = _optimum(entry)
    reference_terms = optimum["fixed_terms"]
    numbers = _reference_ids(their_model._printed_numbers(summary, their.names), reference_terms)
    values = _reference_ids(their.values, reference_terms)
    notes = their_model.parametrisation_notes(their)
    if not found and their_model.is_reparametrised(their):
        reparametrised = _in_their_parametrisation(entry, target, their, reference_terms)
        if reparametrised is None:  # not the same likelihood after all: a difference
            found = [
                their_model.not_equivalent(
                    entry["title"], "; ".join(their_model.parametrisation_notes(their))
                )
            ]
            count = 1
        else:
            entry = reparametrised
    part_of_assignment = count <= their_model.MAX_DIFFERENCES and not any(
        d["id"].startswith("extra_fixed_") and d["id"].split("_", 2)[2] not in ASSIGNED_VARIABLES
        for d in found
    )
    catalogued = [d for d in found if d["id"] in catalogue["mistakes"]]
    candidate = {
        "id": THEIR_MODEL,
        "kind": "correct" if not found else "mistake",
        # a number the model written gives is diagnosed by its one catalogued difference,
        # or, where it has several, by the model (its differences are listed with it)
        "mistake": (
            None
            if not found
            else (found[0]["id"] if len(found) == 1 and catalogued else THEIR_MODEL)
        ),
        "formula": their.formula,
        "values": values,
    }
    by_parts = {frozenset(t.split(":")): t for t in reference_terms}
    names = {k: by_parts.get(frozenset(v.split(":")), v) for k, v in their.names.items()}
    alignment = Alignment(numbers, [], names)
    best = matching.score(target, candidate, alignment)
    # the catalogue's own candidate for this reference that the numbers are (an accepted
    # alternative such as lme4's stopping point is named as it was before the formula)
    known = [matching.score(target, c, alignment) for c in entry["candidates"]]
    known_best, _ = matching.best_match(known)
    grade, _ = grade_match(
        label,
        "summary",
        best,
        [],
        catalogue,
        check_missing=part_of_assignment,
        not_printed=_not_printed(summary),
        significant_digits=significant_digits,
        printed_units=PRINTED_UNITS[summary.program],
        row_digits=ROW_DIGITS.get(summary.program),
        program_digits=SIGNIFICANT_DIGITS.get(summary.program, 0),
        entry_override=entry,
        program_tolerance=PROGRAM_TOLERANCE.get(summary.program),
    )
    evidence = Evidence(
        part_of_assignment=part_of_assignment,
        formula_differences=cast(list[Diagnosis], found),
        known_mistake=known_best.candidate.get("mistake"),
    )
    grade["confidence"] = "high" if their.computation != "not this model" else "low"
    grade["matches_known"] = their.computation != "not this model"
    grade["matched"]["candidate"] = THEIR_MODEL
    grade["their_model"] = {
        "fitted": True,
        "formula": their.formula,
        "roles": their.roles,
        "data": their.variant.words(their.uses_ses, their.uses_meanses),
        "estimation": "REML" if their.spec.reml else "ML",
        "computation": their.computation,
        "unreproduced": their.unreproduced,
        "variants_tried": their.tried,
        "point": their.point,
        "optimum_criterion": their.optimum_criterion,
        "parametrisation": notes,
        "in_words": _in_words(their, entry, found, part_of_assignment),
    }
    return grade, evidence


#: The candidate of a summary fitted from its formula; a number it explains is diagnosed
#: by the model's differences, listed with the model.
THEIR_MODEL = "their_model"
#: Variables the assignment's models use; a model with another is not an attempt of them.
ASSIGNED_VARIABLES = {"cses", "meanses", "sector", "minority"}


#: The difference of a printout whose formula is not the model of its table.
_NOT_ITS_NUMBERS: Diagnosis = {
    "id": "formula_not_its_numbers",
    "title": "The formula printed is not the model whose numbers are printed",
    "explanation": (
        "The formula above the table has another number of fixed effects than the table "
        "under it: the numbers come from another fit than the one the formula describes "
        "(output pasted from two runs, or edited by hand). They are graded as the model "
        "they are, and the model written counts as one number not replicated."
    ),
    "fix": "Hand in the output of one fit: its formula and its tables as the program printed them.",
    "kind": "mistake",
}


def _formula_number(summary: Summary, grade: ModelGrade, verdict: str) -> NumberGrade:
    """The model written, graded as one number that does not replicate: ``major`` for a
    printout whose formula is not the model of its numbers, ``minor`` for a formula that
    cannot be fitted as written (a variable with no HSB role, a transformation the
    grammar does not take); either is not full marks, whatever the numbers."""
    return {
        "id": "formula",
        "quantity": "the model written (the printed formula)",
        "symbol": None,
        "submitted": summary.formula,
        "reference": grade["target_formula"],
        "reference_status": None,
        "reference_note": None,
        "optimum": None,
        "verdict": verdict,
        "against": (
            "the model of the printed table"
            if verdict == verdicts.MAJOR
            else "fitting it as written (not possible: see the note)"
        ),
        "diagnosis": None,  # the block's diagnosis names it
        "their_fit": None,
    }


def _unassigned_variables(summary: Summary) -> list[str]:
    """The printed fixed terms' variables whose HSB role no model of the assignment has
    (female): a summary whose formula could not be fitted is then another model, whatever
    its numbers are nearest to."""
    out = []
    for term in summary.fixed:
        for part in term.term.split(":"):
            role = their_model.role_of(part)
            if role is not None and role not in ASSIGNED_VARIABLES | {"ses"} and part not in out:
                out.append(part)
    return out


def _reference_ids(numbers: dict[str, Any], reference_terms: list[str]) -> dict[str, Any]:
    """Quantity ids in the reference's spelling: ``sectorCatholic:cses`` as
    ``cses:sectorCatholic``, a correlation's two terms in the reference's order."""
    by_parts = {frozenset(t.split(":")): t for t in reference_terms}
    order = {t: i for i, t in enumerate(reference_terms)}
    out = {}
    for qid, value in numbers.items():
        parts = qid.split(".")
        if parts[0] == "fixed" and len(parts) == 3:
            term = by_parts.get(frozenset(parts[1].split(":")), parts[1])
            qid = f"fixed.{term}.{parts[2]}"
        elif qid.startswith("random.corr.") and len(parts) == 4:
            a, b = sorted(parts[2:], key=lambda t: order.get(t, len(order)))
            qid = f"random.corr.{a}.{b}"
        out[qid] = value
    return out


def _in_their_parametrisation(
    entry: Entry, target: str, their: TheirModel, reference_terms: list[str]
) -> Entry | None:
    """The reference's entry with its optimum fitted in the student's parametrisation, and
    its printed numbers kept only where the parametrisation leaves them unchanged; None
    when that fit is not the reference's model (another residual variance: another
    likelihood, whatever the terms say)."""
    assert their.refit is not None
    spec = load().models[target].spec
    values = _reference_ids(their.refit(their.reference_variant(spec), spec.reml), reference_terms)
    optimum = _optimum(entry)["values"]
    sigma2, reference_sigma2 = values["residual.variance"], optimum["residual.variance"]
    if reference_sigma2 is None or abs(sigma2 - reference_sigma2) > (
        matching.AGREEMENT_RELATIVE["residual"] * reference_sigma2
    ):
        return None
    same = {
        q
        for q, v in values.items()
        if (reference := optimum.get(q)) is not None
        and abs(v - reference)
        <= matching.AGREEMENT_RELATIVE.get(q.split(".")[0], 1e-6) * max(1.0, abs(reference))
    }
    new_optimum = {**_optimum(entry), "values": values}
    return cast(
        Entry,
        {
            **entry,
            "printed": {q: p for q, p in entry["printed"].items() if q in same},
            "candidates": [new_optimum],
        },
    )


def _in_words(
    their: TheirModel, entry: Entry, found: list[dict[str, Any]], part_of_assignment: bool
) -> str:
    """What the student computed, in a sentence or two: the page starts with it."""
    data = "; ".join(their.variant.words(their.uses_ses, their.uses_meanses))
    estimation = "REML" if their.spec.reml else "ML"
    said = f"You fitted {their.formula} by {estimation} ({data}). "
    if not part_of_assignment:
        said += "This is not one of the models the assignment asks for"
        said += f" (nearest: {entry['title']}), so its numbers are not graded. "
    elif not found:
        said += f"This is {entry['title']}"
        said += " in another parametrisation. " if their_model.is_reparametrised(their) else ". "
    else:
        said += f"This is {entry['title']} with {len(found)} difference"
        said += "s: " if len(found) > 1 else ": "
        said += "; ".join(d["title"] for d in found) + ". "
    said += COMPUTATION_WORDS[their.computation]
    if their.point != "optimum" and their.optimum_criterion is not None:
        said += f" (the optimum's criterion is {their.optimum_criterion:.2f})"
    return said + "."


COMPUTATION_WORDS = {
    "correct": "Your numbers are a correct fit of the model you wrote",
    "lme4 stopping point": (
        "Your numbers are where lme4's default optimizer stopped, short of the optimum of "
        "the model you wrote"
    ),
    "near optimum": (
        "Your numbers are close to, not at, the optimum of the model you wrote: the "
        "program stopped a little early"
    ),
    "penalised": (
        "Your numbers are a fit with a prior (a penalised likelihood), not the REML or ML "
        "estimates of the model you wrote: they differ where the prior pulls them"
    ),
    "not converged": (
        "Your numbers are where the optimizer stopped without converging, as the program "
        "says: not a fit of the model you wrote"
    ),
    "not this model": (
        "Your numbers are not a fit of the model you wrote on any data we tried (SES "
        "centred or not, either MEANSES, the subsets with your n and J): check that the "
        "printout and the data are the ones you describe"
    ),
}


def _sample(numbers: dict[str, Printed], catalogue: Catalogue) -> str | None:
    """When a summary's numbers of students and schools are not HSB's: which sample has
    them (a school left out, one sector alone), in words; None when they are HSB's."""
    data = catalogue["data"]
    n_obs, n_groups = numbers.get("n_obs"), numbers.get("n_groups")
    if n_obs is None or n_groups is None:
        return None
    counts = (n_obs.value, n_groups.value)
    if counts == (data["n_obs"], data["n_groups"]):
        return None
    found = [
        s["description"] for s in data.get("subsets", []) if (s["n_obs"], s["n_groups"]) == counts
    ]
    said = f"n = {n_obs.text} students in J = {n_groups.text} schools, not HSB's "
    said += f"{data['n_obs']} in {data['n_groups']}: "
    if found:
        return said + "the counts of " + " or ".join(found) + "; fit the whole sample"
    return said + (
        "no subset we know has these counts (each school left out; each level of sector, "
        "minority, female alone)"
    )


def _grade_icc(
    block: Summary,
    catalogue: Catalogue,
    prefer: str,
    has_tests: bool,
    required: list[str],
    significant_digits: int,
) -> ModelGrade:
    """An ICC printed alone (performance's ``icc()``), graded against the ICC of the
    random-intercept model it matches (Table 4.2's 0.18, p. 71; Table 4.3's conditional
    ICC): nothing else of the model is printed, so nothing else is missing."""
    targets = {
        name: entry
        for name in _summary_targets(prefer, has_tests, required)
        if "icc" in _optimum(entry := _entry(catalogue, name))["values"]
    }
    best, ties = match_numbers({"icc": block.fit_statistics["ICC"]}, targets)
    grade, evidence = grade_match(
        f"{PROGRAMS[block.program].block_label} at line {block.line}",
        "summary",
        best,
        ties,
        catalogue,
        check_missing=False,
        significant_digits=significant_digits,
        printed_units=PRINTED_UNITS[block.program],
    )
    grade["submitted_formula"] = _formula(block.formula)
    grade["estimation"] = block.estimation
    grade["program"] = block.program
    grade["reading_notes"] = block.notes
    grade["their_model"] = {"fitted": False, "reason": "an ICC printed alone has no formula"}
    return _conclude(grade, evidence, catalogue, required)


def _summary_targets(prefer: str, has_tests: bool, required: list[str]) -> list[str]:
    """The references a summary may attempt: the assignment's models, and the models of
    its tests when the submission has a test (an attempt of Table 4.5 without its slope,
    in a file without the deviance test, is graded as Table 4.5).  None of the
    assignment's: every model, so that an extra model is still named."""
    refs = load()
    targets = [
        name
        for name in refs.summary_targets(prefer)
        if (has_tests or refs.models[name].printed) and refs.asks_for(name, required)
    ]
    return targets or refs.summary_targets(prefer)


def _combined(
    best: Score, ties: list[Score], numbers: dict[str, Printed], table: pd.DataFrame | None
) -> tuple[Score, list[Score]]:
    """Numbers without a formula that no single candidate explains: up to three
    catalogued mistakes combined (:mod:`.combinations`), when the table is at hand."""
    if table is None or best.share >= matching.HIGH or best.target not in load().models:
        return best, ties
    found = combinations.search(best.target, numbers, table, load(), best)
    if found is None:
        return best, ties
    found.alignment = best.alignment
    return found, []


def _assignment(blocks: list[ModelGrade], required: list[str]) -> dict[str, Any]:
    """What the assignment asks for, what the submission attempted, and what is missing
    (a model and its twin are one requirement)."""
    refs = load()
    attempted = sorted({b["target"] for b in blocks if b.get("part_of_assignment", True)})
    done = set(attempted) | {t for a in attempted if (t := refs.twin(a))}
    return {
        "required": required,
        "attempted": attempted,
        "missing": [r for r in required if r not in done],
    }


def _conclude(
    grade: ModelGrade, evidence: Evidence, catalogue: Catalogue, required: list[str]
) -> ModelGrade:
    """The block's diagnosis, decided once (:func:`.diagnosis.decide`), and whether it
    counts: a model or test the assignment does not ask for is shown, not graded (its
    numbers neither raise nor lower the score)."""
    evidence.part_of_assignment = evidence.part_of_assignment and load().asks_for(
        grade["target"], required
    )
    grade["diagnosis"], grade["differences"] = diagnosis.decide(evidence, catalogue)
    grade["part_of_assignment"] = evidence.part_of_assignment
    if not evidence.part_of_assignment:
        grade["numbers"], grade["missing"] = [], []
    return grade


def _blocks(
    submission: Submission,
    catalogue: Catalogue,
    prefer: str,
    significant_digits: int,
    table: pd.DataFrame | None = None,
    required: list[str] | None = None,
) -> list[ModelGrade]:
    required = load().required(required)
    out: list[ModelGrade] = []
    assert submission.parsed is not None
    blocks = submission.parsed.blocks
    has_tests = any(isinstance(b, Anova) for b in blocks)
    if len(blocks) > MAX_BLOCKS:
        submission.parsed.problems.append(
            f"{len(blocks)} summary() and anova() blocks: only the first {MAX_BLOCKS} graded"
        )
    for block in blocks[:MAX_BLOCKS]:
        if block.unread:  # graded whole or not at all: parse() has said why
            continue
        if isinstance(block, Reported):  # the answer sheet: its reference named, no matching
            target = block.target
            best, ties = match_numbers(block.numbers, {target: _entry(catalogue, target)})
            best, ties = _combined(best, ties, block.numbers, table)
            grade, evidence = grade_match(
                f"answer sheet: {target}",
                "answer sheet",
                best,
                ties,
                catalogue,
                significant_digits=significant_digits,
            )
            out.append(_conclude(grade, evidence, catalogue, required))
            continue
        if isinstance(block, Summary) and not block.fixed and "ICC" in block.fit_statistics:
            out.append(
                _grade_icc(block, catalogue, prefer, has_tests, required, significant_digits)
            )
            continue
        if isinstance(block, Summary) and block.fixed:
            what = PROGRAMS[block.program].block_label if block.program in PROGRAMS else "summary()"
            label = f"{what} at line {block.line}"
            their, why_not, mismatch = None, None, False
            if table is not None:
                try:
                    their = their_model.fit_their_model(block, table)
                except their_model.NotFittedError as error:
                    why_not = str(error)
                    mismatch = isinstance(error, their_model.FormulaMismatchError)
            if their is not None:
                targets = _summary_targets(prefer, has_tests, required)
                grade, evidence = grade_their_model(
                    label, block, their, catalogue, targets, significant_digits
                )
                grade["submitted_formula"] = _formula(block.formula)
                grade["estimation"] = block.estimation
                grade["program"] = block.program
                grade["reading_notes"] = block.notes
                out.append(_conclude(grade, evidence, catalogue, required))
                continue
            best, ties = match_summary(
                block, catalogue, prefer, _summary_targets(prefer, has_tests, required)
            )
            if not block.truncated:
                best, ties = _combined(best, ties, best.alignment.numbers, table)
            not_printed = _not_printed(block)
            grade, evidence = grade_match(
                label,
                "summary",
                best,
                ties,
                catalogue,
                check_missing=not block.truncated,
                not_printed=not_printed,
                significant_digits=significant_digits,
                printed_units=PRINTED_UNITS[block.program],
                row_digits=ROW_DIGITS.get(block.program),
                program_digits=SIGNIFICANT_DIGITS.get(block.program, 0),
                program_tolerance=PROGRAM_TOLERANCE.get(block.program),
            )
            grade["submitted_formula"] = _formula(block.formula)
            grade["estimation"] = block.estimation
            grade["program"] = block.program
            grade["reading_notes"] = block.notes
            grade["their_model"] = {"fitted": False, "reason": why_not}
            if mismatch and why_not is not None:
                grade["numbers"].append(_formula_number(block, grade, verdicts.MAJOR))
                evidence.inconsistent = _NOT_ITS_NUMBERS
            elif why_not is not None and block.formula:
                # a formula that cannot be fitted as written is not shown to be the model
                # of its numbers: said on the page, and one number short of full marks
                grade["numbers"].append(_formula_number(block, grade, verdicts.MINOR))
            foreign = _unassigned_variables(block)
            if foreign:  # e.g. HLM's FEMALE slope model of the manual, its outcome not printed
                evidence.part_of_assignment = False
                grade["reading_notes"] = [
                    *block.notes,
                    f"its fixed effects have {', '.join(foreign)}, a variable no model of "
                    "the assignment has: shown, not graded",
                ]
            out.append(_conclude(grade, evidence, catalogue, required))
        elif isinstance(block, FTests):
            tests = _grade_f_tests(
                block, catalogue, prefer, has_tests, required, significant_digits
            )
            if isinstance(tests, str):
                submission.parsed.not_graded.append(
                    f"line {block.line}: {block.printed_by}: {tests}"
                )
            else:
                out.append(_conclude(*tests, catalogue, required))
        elif isinstance(block, Coefficients):
            coefficients = _grade_coefficients(block, catalogue, prefer, has_tests, required)
            if isinstance(coefficients, str):
                submission.parsed.not_graded.append(f"line {block.line}: fixef(): {coefficients}")
            else:
                out.append(_conclude(*coefficients, catalogue, required))
        elif isinstance(block, Intervals):
            limits = _grade_intervals(block, catalogue, prefer, has_tests, required, table)
            if isinstance(limits, str):
                submission.parsed.not_graded.append(f"line {block.line}: confint(): {limits}")
            else:
                out.append(_conclude(limits, Evidence(), catalogue, required))
        elif isinstance(block, Anova):
            tested = None if table is None else their_model.tested_data(block, table)
            mixed = None if tested is None else their_model.different_data(tested)
            for pair, numbers in matching.anova_pairs(block):
                if len(out) >= MAX_BLOCKS:
                    break
                best, ties = match_numbers(numbers, catalogue["lrts"])
                label = f"{block.kind}() at line {block.line}: {pair}"
                not_printed = NOT_PRINTED[block.kind]
                grade, evidence = grade_match(
                    label,
                    "anova",
                    best,
                    ties,
                    catalogue,
                    not_printed=not_printed,
                    significant_digits=significant_digits,
                )
                grade["refitted_by_ml"] = block.refitted_by_ml
                grade["tested_data"] = tested
                evidence.different_data = cast(Diagnosis | None, mixed)
                grade["submitted_formulas"] = {
                    name: _formula(text) for name, text in block.formulas.items()
                }
                out.append(_conclude(grade, evidence, catalogue, required))
    return out


def _term_roles(name: str) -> frozenset[str] | None:
    """The HSB roles of a term's variables (``ses_cwc:sector`` -> cses, sector); None when
    a variable has no role we recognise."""
    from hlmrep.grading import intervals

    if any(their_model.role_of(part) is None for part in name.split(":")):
        return None
    return intervals.fixed_roles(name)


def _not_printed(summary: Summary) -> tuple[str, ...]:
    """What a summary never prints: its program's, and the model-based SEs and t values
    under Kenward-Roger's t tests (lmerTest prints KR's adjusted ones in their place)."""
    never = NOT_PRINTED[summary.program]
    if summary.df_method == "kenward_roger":
        return (*never, "fixed.*.se", "fixed.*.t")
    return never


def _grade_f_tests(
    block: FTests,
    catalogue: Catalogue,
    prefer: str,
    has_tests: bool,
    required: list[str],
    significant_digits: int,
) -> tuple[ModelGrade, Evidence] | str:
    """The grade of a printed table of F tests, or why it is not graded.

    Its rows are lined up with every candidate's terms (:func:`.matching.align_f_table`)
    and its cells compared with the candidate's F tests of the same type and method; the
    best candidate names the model and, when it is a mistake's fit, the mistake.  The
    table prints no estimation: an ML fit's F tests are another candidate's numbers.
    lmerTest's tests at lme4's stopping point are its right answer
    (:data:`.matching.TEST_TOLERANCE`)."""

    targets = _summary_targets(prefer, has_tests, required)
    known = {
        frozenset(term.split(":"))
        for target in targets
        for candidate in catalogue["models"][target]["candidates"]
        for term in candidate.get("tested_terms", [])
    }
    if not any(_term_roles(row.term) in known for row in block.rows):
        return "read, not graded (its terms are those of no model of the assignment)"
    scores = []
    for target in targets:
        entry = catalogue["models"][target]
        for candidate in entry["candidates"]:
            if "tested_terms" not in candidate:
                continue  # the source's printed numbers: no tests
            alignment = matching.align_f_table(block, candidate, _term_roles)
            scored = matching.score(target, candidate, alignment)
            scored.target_rank = 0 if entry["printed"] else 1
            scores.append(scored)
    if not any(score.compared for score in scores):
        return "read, not graded (no model of the assignment has these tests computed)"
    best, ties = matching.best_match(scores)
    label = (
        f"{block.printed_by} at line {block.line}: type {block.type} F tests, "
        f"{F_METHOD_WORDS[block.method]}"
    )
    grade, evidence = grade_match(
        label,
        "F tests",
        best,
        ties,
        catalogue,
        check_missing=False,
        significant_digits=significant_digits,
        program_tolerance=matching.TEST_TOLERANCE,
    )
    grade["method"] = F_METHOD_WORDS[block.method]
    grade["reading_notes"] = [
        f"{block.printed_by}: type {block.type} hypotheses, {F_METHOD_WORDS[block.method]}"
    ]
    return grade, evidence


def _grade_coefficients(
    block: Coefficients,
    catalogue: Catalogue,
    prefer: str,
    has_tests: bool,
    required: list[str],
) -> tuple[ModelGrade, Evidence] | str:
    """The grade of a printed ``fixef()``: the estimates of the model of the assignment
    whose fixed effects they are (by role), closest in its numbers among those, and the
    evidence for its diagnosis."""
    from hlmrep.grading import intervals

    refs = load()
    wanted = {intervals.fixed_roles(name) for name in block.names}
    names: dict[str, str] = {}
    targets = []
    for target in _summary_targets(prefer, has_tests, required):
        spec = refs.models[target].spec
        terms = ["(Intercept)", *spec.fixed]
        if {frozenset(t.split(":")) for t in terms} == wanted:
            targets.append(target)
    if not targets:
        return "read, not graded (its names are the terms of no model of the assignment)"
    spec = refs.models[targets[0]].spec
    terms = ["(Intercept)", *spec.fixed]
    for name in block.names:
        term = next(t for t in terms if frozenset(t.split(":")) == intervals.fixed_roles(name))
        names[name] = spec.coefficient(term)
    numbers = {
        f"fixed.{names[n]}.estimate": value
        for n, value in zip(block.names, block.values, strict=True)
    }
    best, ties = match_numbers(numbers, {t: _entry(catalogue, t) for t in targets})
    best.alignment.names = names
    grade, evidence = grade_match(f"fixef() at line {block.line}", "fixef", best, ties, catalogue)
    grade["missing"] = []  # fixef() prints the estimates only: nothing else is left out
    return grade, evidence


def _grade_intervals(
    block: Intervals,
    catalogue: Catalogue,
    prefer: str,
    has_tests: bool,
    required: list[str],
    table: pd.DataFrame | None,
) -> ModelGrade | str:
    """The grade of a printed ``confint()`` (:mod:`.intervals`), or why it is not graded."""
    from hlmrep.grading import intervals

    if not block.method:
        return "read, not graded (its method is not printed: no call and no R message)"
    if table is None:
        return "read, not graded (no data to compute the intervals)"
    refs = load()
    found = intervals.target_of(block, _summary_targets(prefer, has_tests, required), refs)
    if found is None:
        return "read, not graded (its rows are the terms of no model of the assignment)"
    target, names = found
    ours = intervals.reference_intervals(block, target, table, refs)
    numbers, ungraded = intervals.grade_limits(block, names, ours)
    entry = _entry(catalogue, target)
    method = {"Wald": "Wald", "profile": "profile", "boot": f"bootstrap, nsim = {block.nsim}"}
    agree = sum(1 for n in numbers if n["verdict"] in verdicts.REPLICATED)
    grade: ModelGrade = {
        "label": f"confint() at line {block.line} ({method[block.method]})",
        "kind": "confint",
        "method": block.method,
        "level": block.level,
        "nsim": block.nsim,
        "target": target,
        "target_title": entry["title"],
        "target_where": entry["where"],
        "target_formula": entry.get("formula"),
        "confidence": "high",
        "matched": {
            "candidate": "optimum",
            "kind": "correct",
            "formula": entry.get("formula"),
            "agree": agree,
            "compared": len(numbers),
            "differences": [],
        },
        "matches_known": True,
        "diagnosis": None,
        "differences": [],
        "also_consistent_with": [],
        "names": names,
        "sample": None,
        "numbers": numbers,
        "ungraded": ungraded,
        "missing": [],
        "part_of_assignment": True,
    }
    return grade


def _formula(text: str) -> dict[str, str | None]:
    """A submitted formula, as printed and as our own parser reads it (never evaluated)."""
    from hlmrep.engine.formula import parse_formula
    from hlmrep.errors import HlmrepError

    try:
        canonical = parse_formula(text).canonical()
        problem = None
    except HlmrepError as error:
        canonical, problem = None, str(error).splitlines()[0]
    return {"text": text, "canonical": canonical, "not_read": problem}


def grade_file(
    path: Path,
    catalogue: Catalogue,
    prefer: str = DEFAULTS.reference,
    name: str | None = None,
    significant_digits: int = verdicts.MIN_SIGNIFICANT_DIGITS,
    table: pd.DataFrame | None = None,
    assignment: list[str] | None = None,
    missing_weight: float = DEFAULTS.missing_weight,
    member: str | None = None,
) -> dict[str, Any]:
    """The grade of one submitted file; a file that cannot be graded gets ``status: error``.

    ``name`` is the file name as the pages show it (default: the path's). The bytes graded
    and hashed are the ones read once, by :func:`.submission.read_bytes`.
    ``significant_digits``: the fewest a number may be printed with and still replicate
    (config ``grading.min_significant_digits``; :func:`.verdicts.required_unit`);
    ``table``: the prepared table, to fit the formulas the file prints
    (:mod:`.their_model`; None: numbers are matched by value alone); ``assignment``: the
    references asked for (config ``grading.assignment``; None: grading.yaml's);
    ``missing_weight``: how much a reference the assignment asks for and the file lacks
    counts, as a share of its printed numbers (config ``grading.missing_weight``; 1: as
    if every one of them were reported wrong, so it scores zero; 0: not at all)."""
    label = visible(name or path.name)
    record: dict[str, Any] = {"submission": label, "reference": prefer, "sha256": None}
    try:
        raw = read_bytes(path, label) if member is None else _member_bytes(path, member, label)
        record["sha256"] = hashlib.sha256(raw).hexdigest()
        submission = recognise(raw, label)
        required = load().required(assignment)
        blocks = _blocks(submission, catalogue, prefer, significant_digits, table, required)
        problems = submission.parsed.problems if submission.parsed is not None else []
        not_graded = submission.parsed.not_graded if submission.parsed is not None else []
        if not blocks:
            raise SubmissionError(
                f"{label}: nothing gradeable: "
                + (
                    "; ".join(problems[:3])
                    if problems
                    else "; ".join(not_graded[:3]) or "no model with fixed effects"
                )
            )
    except SubmissionError as error:
        return refused(record, str(error))
    for block in blocks:
        block["ungraded"] = capped(block["ungraded"], f"{block['label']}: rows")
    record.update(
        status="graded",
        error=None,
        min_significant_digits=significant_digits,
        format=submission.format,
        encoding=submission.encoding,
        problems=capped(problems, "problems"),
        not_graded=capped(not_graded, "blocks read, not graded"),
        models=blocks,
        assignment=_assignment(blocks, required),
    )
    lacking = _numbers_of(record["assignment"]["missing"], catalogue, prefer)
    record.update(_totals(blocks, lacking, missing_weight))
    return record


def _numbers_of(references: list[str], catalogue: Catalogue, prefer: str) -> int:
    """How many numbers the references print (a model and its twin once, the preferred
    source's): what a file that lacks them leaves unreported."""
    refs = load()
    counted: set[str] = set()
    total = 0
    for name in references:
        twin = refs.twin(name)
        if twin in counted:
            continue
        if twin in references and refs.models[name].source != prefer:
            continue
        counted.add(name)
        printed = _entry(catalogue, name)["printed"]
        total += sum(1 for qid in printed if not qid.startswith(NOT_IN_SUMMARIES))
    return total


#: Entries of a list a record keeps (problems, rows not graded), and characters of each:
#: a million bad lines are a million problems, and a record that repeats each would be
#: hundreds of MB; the first ones say what is wrong.
MAX_LISTED = 50
MAX_ENTRY_CHARS = 500


def capped(entries: list[Any], what: str) -> list[Any]:
    """The first :data:`MAX_LISTED` entries (strings cut at :data:`MAX_ENTRY_CHARS`) and,
    when there are more, a last one that says how many were left out."""
    kept = [
        e[:MAX_ENTRY_CHARS] + "…" if isinstance(e, str) and len(e) > MAX_ENTRY_CHARS else e
        for e in entries[:MAX_LISTED]
    ]
    if len(entries) > MAX_LISTED:
        left = len(entries) - MAX_LISTED
        note = f"… and {left} more {what} like these, not listed"
        kept.append(
            note if all(isinstance(e, str) for e in kept) else {"id": "…", "submitted": note}
        )
    return kept


def refused(record: dict[str, Any], reason: str) -> dict[str, Any]:
    """A record for a submission that could not be graded, with the reason."""
    if len(reason) > 4 * MAX_ENTRY_CHARS:
        reason = reason[: 4 * MAX_ENTRY_CHARS] + "…"
    record.update(status="error", error=reason, format=None, models=[], problems=[])
    record.update(_totals([], 0, 0.0))
    return record


def refusal(name: str, prefer: str, reason: str) -> dict[str, Any]:
    """The record of a submission refused before any of it was read."""
    return refused({"submission": name, "reference": prefer, "sha256": None}, reason)


def _member_bytes(path: Path, member: str, label: str) -> bytes:
    """A member of an archive in the submissions folder (:mod:`.archives`)."""
    from hlmrep.grading import archives

    try:
        return archives.read_member(path, member, label)
    except archives.ArchiveError as error:
        raise SubmissionError(str(error)) from None


def grade_bounded(
    path: Path,
    catalogue: Catalogue,
    prefer: str = DEFAULTS.reference,
    name: str | None = None,
    significant_digits: int = verdicts.MIN_SIGNIFICANT_DIGITS,
    table: pd.DataFrame | None = None,
    assignment: list[str] | None = None,
    missing_weight: float = DEFAULTS.missing_weight,
    member: str | None = None,
) -> dict[str, Any]:
    """:func:`grade_file` within the grading bounds, in a child process
    (:func:`.limits.run_bounded`, a bound that holds in C code too): running out of time or
    memory, or a failure of the grader itself, is that file's error, so that one file
    never stops the grading of the others."""
    from hlmrep.grading import limits

    label = visible(name or path.name)

    def work() -> dict[str, Any]:
        return grade_file(
            path,
            catalogue,
            prefer,
            name=label,
            significant_digits=significant_digits,
            table=table,
            assignment=assignment,
            missing_weight=missing_weight,
            member=member,
        )

    try:
        graded: dict[str, Any] = limits.run_bounded(
            work, limits.GRADING_SECONDS, limits.GRADING_MEMORY, label
        )
        return graded
    except limits.LimitExceededError as error:
        return refusal(label, prefer, str(error))
    except limits.WorkFailedError as error:  # a grader bug must not stop the class: say so
        return refusal(
            label,
            prefer,
            f"{label}: hlmrep could not grade this file ({error}); please report it with the file",
        )
    except Exception as error:
        return refusal(
            label,
            prefer,
            f"{label}: hlmrep could not grade this file ({type(error).__name__}: "
            f"{str(error)[:200]}); please report it with the file",
        )


def _totals(blocks: list[ModelGrade], lacking: int, missing_weight: float) -> dict[str, Any]:
    """The record's counts and score: replicated numbers over the numbers expected, which
    are every number graded, every number a graded model's reference prints and the file
    leaves out, and ``missing_weight`` x the numbers of the references the assignment asks
    for and the file lacks (``lacking``)."""
    counts = {v: 0 for v in verdicts.ORDER}
    for block in blocks:
        for n in block["numbers"]:
            counts[n["verdict"]] += 1
    graded = sum(counts.values())
    replicated = counts[verdicts.EXACT] + counts[verdicts.ROUNDING]
    # A number the matched reference prints and the submission leaves out counts as not
    # replicated: otherwise leaving out what one got wrong (or filling in one line of the
    # answer sheet) would score 100 %.
    missing = sum(len(b["missing"]) for b in blocks)
    expected = graded + missing + missing_weight * lacking
    named: dict[str, Diagnosis] = {
        b["diagnosis"]["id"]: b["diagnosis"] for b in blocks if b["diagnosis"]
    }
    for block in blocks:  # every difference of a model fitted from its formula
        if block["part_of_assignment"]:
            named |= {d["id"]: d for d in block["differences"]}
    found = set(named) | {
        n["diagnosis"]
        for b in blocks
        for n in b["numbers"]
        if n["diagnosis"] and n["diagnosis"] not in (THEIR_MODEL, combinations.COMBINED)
    }
    accepted = {d for d in found if d in named and named[d]["kind"] == "accepted"}
    diagnoses = sorted(found - accepted)
    notes = sorted(accepted)
    titles = {d: named[d]["title"] for d in found if d in named}
    return {
        "counts": counts,
        "graded": graded,
        "missing": missing,
        "missing_required": lacking,
        "missing_weight": missing_weight,
        "expected": round(expected, 4),
        "replicated": replicated,
        "score": round(replicated / expected, 4) if expected and graded else None,
        # every number of what was handed in: the console's exit status, the index's mark
        "all_replicated": bool(blocks) and graded > 0 and replicated == graded + missing,
        "diagnoses": diagnoses,
        "notes": notes,
        "titles": titles,
        "unmatched": sum(1 for b in blocks if not b["matches_known"]),
    }

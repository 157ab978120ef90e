"""The model a submission wrote, fitted: what the student computed, and how it differs.

A printed lme4, lmerTest or nlme summary carries its formula, with the variables named as
the student named them (``mAch ~ ses_c * MEANSES + ses_c * Sector + (ses_c | id)``).  Here:

1. each variable gets its HSB role from its name (:data:`ROLE_WORDS`): the response and the
   grouping factor by their place, SES, MEANSES, sector, minority, female and the school
   file's variables by the words in their names;
2. each factor's coding is read from the printed term names: ``SectorCatholic`` is a factor
   with Public as baseline, ``sectorPublic`` one relevelled to Catholic, a bare ``catholic``
   a 0/1 dummy;
3. the formula, as written, is fitted by the engine to a table whose columns carry the
   student's names, under each data variant a student may have used (:class:`Variant`):
   SES uncentred, centred on the grand mean, on its school's mean or on the school file's
   MEANSES, standardised or not;
   MEANSES the sample mean or the school file's; the whole sample or the subset that has the
   printed n and J.  The estimation is the printout's own.  The variant whose fit reproduces
   the printed numbers is what the student computed (:attr:`TheirModel.computation`);
4. the model, in the reference's vocabulary (:class:`~.references.ModelSpec`), is compared
   with each reference model (:func:`differences`): every difference is named, as the
   catalogued mistake when there is one (in ``mistakes.yaml``'s words, with its fix),
   otherwise in words of its own.  A relevelled factor, a 0/1 dummy or standardised SES is
   the same model in another parametrisation: a note, not a mistake, and the numbers are
   compared with the reference fitted in the student's parametrisation.

Nothing of the formula is evaluated: it is parsed by the engine's own grammar, and the
table it is fitted to is built here from the prepared HSB table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from hlmrep.errors import HlmrepError
from hlmrep.grading.printout import Printed, Summary
from hlmrep.grading.references import ModelSpec, References
from hlmrep.grading.verdicts import unit_of

#: Roles a variable may have, found by words in its name (lower case, letters and digits
#: only): the first role whose test passes.  The response and the grouping factor are
#: known by their place in the formula.
ROLE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sector", ("sector", "catholic", "cath", "public", "schtype")),
    ("minority", ("minority", "minor", "ethnic", "race", "white")),
    ("female", ("female", "sex", "gender", "girl", "male")),
    ("size", ("size", "enrol")),
    ("pracad", ("pracad", "academic")),
    ("disclim", ("disclim", "climate")),
    ("himinty", ("himinty", "himin")),
)
#: Words that make an SES variable a school mean (``MEANSES``, ``ses_mean``, ``avg_ses``)
#: unless it is centred (``ses_mean_centred``).
MEAN_WORDS = ("mean", "avg", "ave", "bar", "school", "sch", "grp", "group", "agg", "cluster")
CENTRED_WORDS = ("cent", "cwc", "dev", "diff", "within", "cgm", "gmc", "grand")
SCHOOL_MEAN_NAMES = {"mses", "sesj", "msesj"}

#: The levels of HSB's factors (our name: the words a student may print for it), and the
#: level a 0/1 dummy named after the factor marks by default.
LEVEL_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "sector": {
        "Public": ("public", "pub", "0", "no", "p"),
        "Catholic": ("catholic", "cath", "1", "yes", "c"),
    },
    "minority": {
        "No": ("no", "0", "white", "nonminority", "majority", "n", "false"),
        "Yes": ("yes", "1", "minority", "y", "true"),
    },
    "female": {
        "Male": ("male", "0", "boy", "m", "no", "man"),
        "Female": ("female", "1", "girl", "f", "yes", "woman"),
    },
}
#: The level the reference codes as 1 (R's second level): sectorCatholic, minorityYes.
MARKED = {"sector": "Catholic", "minority": "Yes", "female": "Female"}
#: A dummy named with one of these words marks the other level (``public``: 1 = Public).
DUMMY_MARKS_BASELINE = {"sector": ("public",), "minority": ("white", "major"), "female": ()}

#: The SES columns a student's SES variable may be: name, words for the page, and whether
#: it is centred on the school mean (the reference's cses) and standardised.
SES_VARIANTS: dict[str, tuple[str, bool, bool]] = {
    "school-centred": ("SES centred on its school's mean (cses)", True, False),
    "school-file-centred": (
        "SES centred on the school file's MEANSES, not on its school's own mean",
        True,
        False,
    ),
    "uncentred": ("SES as in the data, not centred", False, False),
    "grand-mean-centred": ("SES centred on the grand mean", False, False),
    "school-centred, standardised": (
        "SES centred on its school's mean and divided by its standard deviation",
        True,
        True,
    ),
    "standardised": ("SES standardised over all students (grand-mean centred)", False, True),
}
#: The mistake's column (:mod:`.catalogue`) each SES variant stands for in the reference's
#: vocabulary; standardising is a parametrisation, not a mistake.
SES_COLUMN = {
    "school-centred": "cses",
    "school-centred, standardised": "cses",
    "school-file-centred": "cses_school_file",
    "uncentred": "ses",
    "grand-mean-centred": "ses_grand",
    "standardised": "ses_grand",
}
MEANSES_VARIANTS = {
    "sample": "each school's mean SES over its sampled students",
    "school_file": "the school file's MEANSES",
}
#: Relative agreement at which the printed numbers are still the optimum of the model
#: written, stopped a little early (nlme's tolerance on a flat likelihood), not another model.
NEAR_OPTIMUM = 0.01
#: A printed criterion this close to the optimum's of the model written is that model,
#: stopped early (statsmodels on HSB's random-intercept model: 0.02 above).
NEAR_CRITERION = 0.1
#: ... and its fixed effects within this (relative) of the optimum's: near the optimum,
#: variances move by percents, the fixed effects and their SEs by a percent at most.
NEAR_FIXED = 0.05
#: Fits tried for one printed model at most (SES variants x MEANSES variants x samples).
MAX_VARIANTS = 24
#: Differences beyond which a model is another model, not an attempt of the reference.
MAX_DIFFERENCES = 3


class NotFittedError(HlmrepError):
    """The formula of a printout cannot be fitted here, and why (shown on the page)."""


class FormulaMismatchError(NotFittedError):
    """The printed formula is not the model of the printed table: their fixed parts have
    other variables (model4's formula line above model3's numbers)."""


def _plain(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def role_of(name: str) -> str | None:
    """A variable's HSB role by the words of its name, or None when it has none."""
    plain = _plain(name)
    if "ses" in plain:
        is_mean = any(w in plain for w in MEAN_WORDS) or plain in SCHOOL_MEAN_NAMES
        if is_mean and not any(w in plain for w in CENTRED_WORDS):
            return "meanses"
        return "ses"
    for role, words in ROLE_WORDS:
        if any(w in plain for w in words):
            return role
    return None


def _ses_order(name: str) -> list[str]:
    """The SES variants, the one the name suggests first (``ses_gm``: grand-mean centred)."""
    plain = _plain(name)
    first: list[str] = []
    standard = any(w in plain for w in ("std", "scale", "stand", "z"))
    if any(w in plain for w in ("gm", "grand", "overall")):
        first = ["standardised" if standard else "grand-mean-centred"]
    elif any(w in plain for w in ("cwc", "cent", "within", "dev", "wc")) or plain.endswith("c"):
        first = ["school-centred, standardised" if standard else "school-centred"]
    elif standard:
        first = ["standardised", "school-centred, standardised"]
    elif plain == "ses":
        first = ["uncentred"]
    return first + [v for v in SES_VARIANTS if v not in first]


def _meanses_order(name: str) -> list[str]:
    plain = _plain(name)
    first = "school_file" if any(w in plain for w in ("file", "hlm", "sch")) else "sample"
    return [first, *(v for v in MEANSES_VARIANTS if v != first)]


@dataclass(frozen=True)
class Coding:
    """How a student coded one of HSB's factors: a factor with a baseline, or a dummy."""

    role: str
    #: the level coded 1 (our name: "Catholic"), and the student's label of it
    marked: str
    label: str | None  # None: a 0/1 dummy
    baseline_label: str = ""
    #: sum-to-zero contrasts (R's ``contr.sum``, set by afex): one column, +1 for the
    #: marked level and −1 for the other, printed as the factor's name and ``1``
    sum_to_zero: bool = False

    @property
    def relevelled(self) -> bool:
        return not self.sum_to_zero and self.marked != MARKED[self.role]

    @property
    def token(self) -> str:
        """The term's name in the reference's vocabulary (``sectorCatholic``, ``female``;
        ``sectorPublicSum`` for sum-to-zero contrasts, which no reference uses)."""
        if self.sum_to_zero:
            return f"{self.role}{self.marked}Sum"
        if self.role == "female":
            return self.marked.lower()
        return f"{self.role}{self.marked}"

    def as_sum_to_zero(self, marked: str) -> Coding:
        """The same factor in sum-to-zero contrasts, ``marked`` coded +1."""
        other = next(level for level in LEVEL_WORDS[self.role] if level != marked)
        return Coding(self.role, marked, self.label or "1", other, sum_to_zero=True)


def coding_alternatives(codings: Mapping[str, Coding]) -> list[dict[str, Coding]]:
    """The codings a printout's terms may stand for: as read first; a factor printed with
    the suffix ``1`` (``sector1``) may be a 0/1 factor's treatment contrast or a
    sum-to-zero contrast (afex's ``mixed()`` sets them), with either level coded +1 (R's
    first level, which the data decide); each is fitted and the one that reproduces the
    printed numbers is what was computed."""
    alternatives = [dict(codings)]
    for role, coding in codings.items():
        if coding.label != "1":
            continue
        for marked in LEVEL_WORDS[role]:
            alternatives += [
                {**other, role: coding.as_sum_to_zero(marked)} for other in alternatives[:1]
            ]
    return alternatives


def _coding(role: str, name: str, printed_terms: list[str] | None) -> Coding:
    """A factor's coding from the printed fixed-effect names (see the module); without
    them (an ``anova()`` prints none), the reference's: a likelihood does not depend on it."""
    if printed_terms is None:
        other = next(lv for lv in LEVEL_WORDS[role] if lv != MARKED[role])
        return Coding(role, MARKED[role], MARKED[role], baseline_label=other)
    tokens = {part for term in printed_terms for part in term.split(":")}
    if name in tokens:  # a numeric 0/1 column
        plain = _plain(name)
        marks_baseline = any(w in plain for w in DUMMY_MARKS_BASELINE[role])
        levels = list(LEVEL_WORDS[role])
        return Coding(role, levels[0] if marks_baseline else levels[1], None)
    suffixes = sorted({t[len(name) :] for t in tokens if t.startswith(name) and t != name})
    if len(suffixes) != 1:
        raise NotFittedError(
            f"the levels of {name!r} cannot be read from the printed terms "
            f"({', '.join(sorted(tokens)) or 'none'})"
        )
    suffix = suffixes[0]
    for level, words in LEVEL_WORDS[role].items():
        if suffix.lower() in words:
            other = next(lv for lv in LEVEL_WORDS[role] if lv != level)
            return Coding(role, level, suffix, baseline_label=other)
    raise NotFittedError(f"the level {suffix!r} of {name!r} is not one of {role}'s")


@dataclass(frozen=True)
class Variant:
    """One way a student's table may have been made (see the module)."""

    ses: str = "school-centred"
    meanses: str = "sample"
    #: None: all of HSB; else the subset's description ("school 8367 left out")
    sample: str | None = None

    def words(self, uses_ses: bool, uses_meanses: bool) -> list[str]:
        out = []
        if uses_ses:
            out.append(SES_VARIANTS[self.ses][0])
        if uses_meanses:
            out.append("MEANSES: " + MEANSES_VARIANTS[self.meanses])
        out.append("all of HSB" if self.sample is None else self.sample)
        return out


@dataclass
class TheirModel:
    """A printed model, fitted as written (see the module)."""

    formula: str  # as fitted (lme4's printed ``||`` expansion folded back)
    roles: dict[str, str]  # variable as written -> role
    codings: dict[str, Coding]
    spec: ModelSpec  # in the reference's vocabulary
    #: printed term name -> the reference's name for it
    names: dict[str, str]
    variant: Variant
    values: dict[str, float]
    fixed_terms: list[str]
    random_groups: list[list[str]]
    uses_ses: bool
    uses_meanses: bool
    #: "correct", "lme4 stopping point", "near optimum", "not this model" or (its program
    #: said so) "not converged"
    computation: str = "correct"
    #: quantity ids whose printed number this fit does not reproduce
    unreproduced: list[str] = field(default_factory=list)
    agree: int = 0
    compared: int = 0
    distance: float = 0.0
    tried: int = 0
    #: where the numbers were taken: "optimum", or "lme4 default" (where lme4's default
    #: optimizer stopped short of it, with the optimum's criterion)
    point: str = "optimum"
    optimum_criterion: float | None = None
    #: the same formula fitted under another variant and estimation: its numbers
    refit: Callable[[Variant, bool], dict[str, float]] | None = field(
        default=None, repr=False, compare=False
    )

    def key(self) -> tuple[int, int]:
        """Fewer numbers not reproduced, then more agreeing; between equals, the variant
        tried first (the one the variable's name suggests) stays: variants the printed
        digits cannot tell apart (raw SES and SES minus its grand mean of 0.0001) are
        told apart by the name."""
        return (len(self.unreproduced), -self.agree)

    @property
    def standardised(self) -> bool:
        return self.uses_ses and SES_VARIANTS[self.variant.ses][2]

    def reference_variant(self, reference: ModelSpec) -> Variant:
        """The data the reference uses, in this model's parametrisation."""
        ses = "school-centred, standardised" if self.standardised else "school-centred"
        return Variant(ses=ses, meanses=reference.meanses)


# ----- the formula and its variables ---------------------------------------------------------
_BAR = re.compile(r"\(\s*([^()|]*?)\s*\|\s*([A-Za-z.][\w.]*)\s*\)")


def fold_bars(text: str) -> str:
    """lme4 prints ``(x || g)`` as ``((1 | g) + (0 + x | g))``: one ``||`` term again.

    Several bar terms of one grouping factor, each an intercept or one slope without an
    intercept, are uncorrelated random effects; any other combination is left as written
    (and the engine then says it has one random-effects term only)."""
    bars = list(_BAR.finditer(text))
    if len(bars) < 2 or len({m.group(2) for m in bars}) != 1:
        return text
    intercept, slopes = False, []
    for match in bars:
        parts = [p.strip() for p in match.group(1).split("+")]
        if parts == ["1"]:
            intercept = True
        elif len(parts) == 2 and parts[0] in ("0", "-1") and parts[1] not in ("0", "1"):
            slopes.append(parts[1])
        else:
            return text
    group = bars[0].group(2)
    start, end = bars[0].start(), bars[-1].end()
    while start > 0 and text[start - 1] == "(" and end < len(text) and text[end] == ")":
        start, end = start - 1, end + 1  # lme4's outer parentheses
    inner = " + ".join((["1"] if intercept else ["0"]) + slopes)
    return f"{text[:start]}({inner} || {group}){text[end:]}"


def _table(
    base: pd.DataFrame,
    formula: Any,
    roles: Mapping[str, str],
    codings: Mapping[str, Coding],
    variant: Variant,
    ses_columns: Mapping[str, pd.Series],
) -> pd.DataFrame:
    """HSB under ``variant``, with the student's column names (see the module)."""
    columns: dict[str, Any] = {formula.response: base["mathach"], formula.group: base["school"]}
    for name, role in roles.items():
        if role == "ses":
            columns[name] = ses_columns[variant.ses]
        elif role == "meanses":
            columns[name] = base[f"meanses_{variant.meanses}"]
        elif role in codings:
            coding = codings[role]
            ours = base[role].map({0: "Male", 1: "Female"}) if role == "female" else base[role]
            marked = ours.astype(str) == coding.marked
            if coding.sum_to_zero:
                columns[name] = np.where(marked, 1.0, -1.0)
            elif coding.label is None:
                columns[name] = marked.astype(float)
            else:
                labels = np.where(marked, coding.label, coding.baseline_label)
                columns[name] = pd.Categorical(
                    labels, categories=[coding.baseline_label, coding.label]
                )
        else:
            columns[name] = base[role]
    return pd.DataFrame(columns, index=base.index)


def _subsets(table: pd.DataFrame, n_obs: int | None, n_groups: int | None) -> list[str | None]:
    """The samples with the printed counts: all of HSB, or the subsets that have them."""
    from hlmrep.grading.catalogue import SUBSET_COLUMNS

    total, schools = len(table), int(table["school"].nunique())
    if n_obs is None or n_groups is None or (n_obs, n_groups) == (total, schools):
        return [None]
    out: list[str | None] = []
    if n_groups == schools - 1:
        sizes = table.groupby("school", observed=True).size()
        out += [f"school {s} left out" for s, size in sizes.items() if total - size == n_obs]
    for column, words in SUBSET_COLUMNS.items():
        for level, rows in table.groupby(column, observed=True):
            if (len(rows), rows["school"].nunique()) == (n_obs, n_groups):
                out.append(words.format(level=level))
    return out or [None]


def _rows(table: pd.DataFrame, sample: str | None) -> pd.DataFrame:
    from hlmrep.grading.catalogue import SUBSET_COLUMNS

    if sample is None:
        return table
    if sample.startswith("school ") and sample.endswith(" left out"):
        school = sample.removeprefix("school ").removesuffix(" left out")
        return table[table["school"].astype(str) != school]
    for column, words in SUBSET_COLUMNS.items():
        for level in table[column].unique():
            if words.format(level=level) == sample:
                return table[table[column] == level]
    raise NotFittedError(f"unknown sample {sample!r}")


def _ses_columns(table: pd.DataFrame) -> dict[str, pd.Series]:
    ses, cses = table["ses"], table["cses"]
    return {
        "school-centred": cses,
        "school-file-centred": table["cses_school_file"],
        "uncentred": ses,
        "grand-mean-centred": ses - ses.mean(),
        "school-centred, standardised": cses / cses.std(),
        "standardised": (ses - ses.mean()) / ses.std(),
    }


# ----- fitting and comparing -----------------------------------------------------------------
def fit_their_model(summary: Summary, table: pd.DataFrame) -> TheirModel:
    """Fit a printed summary's own formula under each data variant; the variant whose fit
    reproduces the printed numbers best is what was computed (see the module).

    Raises :class:`NotFittedError` when the formula cannot be read or its variables have no
    HSB role; the caller then grades by numbers alone and says why."""
    if not summary.formula:
        raise NotFittedError("the printout has no formula")
    printed_terms = [t.term for t in summary.fixed]
    _check_formula_against_table(summary, printed_terms)
    text, formula, roles, codings = _read_formula(summary.formula, printed_terms)
    best: TheirModel | None = None
    for coded in coding_alternatives(codings):
        candidate = _fit_coded(summary, table, text, formula, roles, coded)
        if best is None or candidate.key() < best.key():
            best = candidate
        if not candidate.unreproduced:
            break
    assert best is not None
    return best


def _fit_coded(
    summary: Summary,
    table: pd.DataFrame,
    text: str,
    formula: Any,
    roles: dict[str, str],
    codings: dict[str, Coding],
) -> TheirModel:
    """:func:`fit_their_model` with the factors coded one way."""
    from hlmrep.engine import fit
    from hlmrep.grading import matching, readers
    from hlmrep.grading.catalogue import result_numbers

    printed_terms = [t.term for t in summary.fixed]
    rename = _renamer(roles, codings)
    spec_terms = _spec(formula, roles, summary.estimation)
    names = {t: rename_term(t, rename) for t in printed_terms}
    ses_name = next((n for n, r in roles.items() if r == "ses"), None)
    meanses_name = next((n for n, r in roles.items() if r == "meanses"), None)
    ses_order = _ses_order(ses_name) if ses_name else ["school-centred"]
    meanses_order = _meanses_order(meanses_name) if meanses_name else ["sample"]
    count = next(iter(summary.groups.values())) if summary.groups else None
    samples = _subsets(table, summary.n_obs, count)
    ses_columns = _ses_columns(table)
    printed = _printed_numbers(summary, names)

    def fit_variant(variant: Variant, reml: bool) -> Any:
        rows = _rows(table, variant.sample)
        return fit(text, _table(rows, formula, roles, codings, variant, ses_columns), reml=reml)

    robust = bool(summary.robust_se)  # printed (HLM): computed too
    # lmerTest's df and p (Satterthwaite's or KR's): computed too
    tests = frozenset({summary.df_method} if summary.df_method else ())

    def refit(variant: Variant, reml: bool) -> dict[str, float]:
        result = fit_variant(variant, reml)
        values: dict[str, float] = result_numbers(result, rename, robust, tests)["values"]
        return values

    def attempt(variant: Variant) -> TheirModel:
        result = fit_variant(variant, summary.estimation == "REML")
        model = compare(variant, result_numbers(result, rename, robust, tests), "optimum")
        if model.unreproduced and summary.program == "lme4":
            stopped = result.lme4_default_run()
            if stopped.criterion > result.criterion + 1e-6:
                other = compare(
                    variant, result_numbers(stopped, rename, False, tests), "lme4 default"
                )
                if len(other.unreproduced) < len(model.unreproduced):
                    other.optimum_criterion = result.criterion
                    return other
        return model

    def compare(variant: Variant, numbers: dict[str, Any], point: str) -> TheirModel:
        candidate = {"values": numbers["values"], "kind": "correct"}
        scored = matching.score("their model", candidate, matching.Alignment(dict(printed)))
        tolerances = readers.PROGRAM_TOLERANCE.get(summary.program, {})
        unreproduced = [
            qid
            for qid, number in printed.items()
            if qid in numbers["values"]
            and not matching.agreement(qid, number, numbers["values"][qid], None)[0]
            and not _within(qid, number.value, numbers["values"][qid], tolerances)
        ]
        spec = replace(
            spec_terms,
            meanses=variant.meanses,
            replace=_centring(variant) if ses_name else (),
        )
        return TheirModel(
            formula=text,
            roles=roles,
            codings=codings,
            spec=spec,
            names=names,
            variant=variant,
            values=numbers["values"],
            fixed_terms=numbers["fixed_terms"],
            random_groups=numbers["random_groups"],
            uses_ses=ses_name is not None,
            uses_meanses=meanses_name is not None,
            unreproduced=unreproduced,
            agree=scored.agree,
            compared=scored.compared,
            distance=scored.distance,
            point=point,
            refit=refit,
        )

    best: TheirModel | None = None
    tried = 0
    variants = [
        Variant(ses, meanses, sample)
        for sample in samples
        for ses in ses_order
        for meanses in meanses_order
    ][:MAX_VARIANTS]
    program = readers.PROGRAMS.get(summary.program)
    penalised = program is not None and program.penalised
    if penalised:
        # a fit with a prior reproduces no variant: its data are taken as named
        variants = variants[:1]
    for variant in variants:
        try:
            candidate = attempt(variant)
        except HlmrepError as error:
            raise NotFittedError(str(error).splitlines()[0]) from None
        tried += 1
        if best is None or candidate.key() < best.key():
            best = candidate
        if not candidate.unreproduced:
            break
    assert best is not None
    best.tried = tried
    best.computation = _computation(best, printed)
    if best.computation != "correct" and penalised:
        best.computation = "penalised"
    return best


def _check_formula_against_table(summary: Summary, printed_terms: list[str]) -> None:
    """:class:`FormulaMismatchError` when the formula's fixed part and the printed table
    do not have the same variables: a variable of the formula that names no printed term
    (model4's ``meanses`` above model3's table), or a printed term of no variable of the
    formula.  A factor's printed terms carry its levels (``sectorCatholic``, ``sovN2``),
    so each printed part is matched to the variable it starts with; a table cut short is
    not compared."""
    from hlmrep.engine import parse_formula

    if summary.truncated:
        return
    try:
        fixed = parse_formula(fold_bars(summary.formula)).fixed
    except HlmrepError:
        return  # _read_formula says why it cannot be read
    variables = {variable.label for term in fixed.terms for variable in term}
    parts = {part for term in printed_terms for part in term.split(":") if part != "(Intercept)"}
    unprinted = sorted(v for v in variables if not any(p.startswith(v) for p in parts))
    unwritten = sorted(p for p in parts if not any(p.startswith(v) for v in variables))
    if unprinted or unwritten:
        said = []
        if unprinted:
            said.append(f"{', '.join(unprinted)} in the formula, not in the table")
        if unwritten:
            said.append(f"{', '.join(unwritten)} in the table, not in the formula")
        raise FormulaMismatchError(
            f"the formula {summary.formula!r} and the printed table differ ({'; '.join(said)}): "
            "the formula is not the model whose numbers are printed"
        )


def _read_formula(
    written: str, printed_terms: list[str] | None
) -> tuple[str, Any, dict[str, str], dict[str, Coding]]:
    """A printed formula parsed, its variables' roles and its factors' codings."""
    from hlmrep.engine import parse_formula

    text = fold_bars(written)
    try:
        formula = parse_formula(text)
    except HlmrepError as error:
        raise NotFittedError(str(error).splitlines()[0]) from None
    roles: dict[str, str] = {}
    for variable in formula.variables:
        if not variable.is_column:
            raise NotFittedError(f"{variable.label!r} is computed in the formula")
        role = role_of(variable.label)
        if role is None:
            raise NotFittedError(f"{variable.label!r} is not a variable of HSB we recognise")
        if role in roles.values():
            raise NotFittedError(f"two variables have the role {role}")
        roles[variable.label] = role
    codings = {
        role: _coding(role, name, printed_terms)
        for name, role in roles.items()
        if role in LEVEL_WORDS
    }
    return text, formula, roles, codings


#: Most models of one printed ``anova()`` whose data are checked.
MAX_TESTED_MODELS = 4


def tested_data(anova: Any, table: pd.DataFrame) -> dict[str, list[str]] | None:
    """For each model of a printed ``anova()``, the data variants (their words) under
    which its own formula reproduces its printed deviance, by REML or ML; None when a
    formula cannot be fitted or the table has too many models.

    Two models that no one variant reproduces both were fitted to different data (SES
    centred in place between the two fits, say): their likelihood-ratio test compares
    nothing (:func:`different_data`)."""
    from hlmrep.engine import fit
    from hlmrep.grading import matching

    if anova.kind != "anova" or not 2 <= len(anova.rows) <= MAX_TESTED_MODELS:
        return None
    ses_columns = _ses_columns(table)
    out: dict[str, list[str]] = {}
    for row in anova.rows:
        written = anova.formulas.get(row.model)
        deviance = row.values.get("deviance")
        if written is None or deviance is None:
            return None
        try:
            text, formula, roles, codings = _read_formula(written, None)
        except NotFittedError:
            return None
        # at an anova()'s printed digits, SES centred on the school file's MEANSES has
        # school-centred SES's deviances: one of the two is tried
        ses = (
            [v for v in SES_VARIANTS if not SES_VARIANTS[v][2] and v != "school-file-centred"]
            if "ses" in roles.values()
            else ["school-centred"]
        )
        meanses = list(MEANSES_VARIANTS) if "meanses" in roles.values() else ["sample"]
        estimations = (False,) if anova.refitted_by_ml else (True, False)
        found = []
        for variant in (Variant(a, b) for a in ses for b in meanses):
            data = _table(table, formula, roles, codings, variant, ses_columns)
            for reml in estimations:
                try:
                    value = fit(text, data, reml=reml).criterion
                except HlmrepError:
                    return None
                if matching.agreement("full.deviance", deviance, value, None)[0]:
                    found.append(
                        _variant_key(variant, "ses" in roles.values(), "meanses" in roles.values())
                    )
                    break
        out[row.model] = found
    return out


def _variant_key(variant: Variant, uses_ses: bool, uses_meanses: bool) -> str:
    return "; ".join(variant.words(uses_ses, uses_meanses)[:-1]) or "any"


def different_data(tested: Mapping[str, list[str]]) -> dict[str, Any] | None:
    """The difference "compared on different data" when every model of the table
    reproduces under some data but no one data reproduces them all; None otherwise."""
    sets = [set(v) for v in tested.values()]
    if not sets or not all(sets):
        return None
    specific = [s for s in sets if s != {"any"}]
    if len(specific) < 2 or set.intersection(*specific):
        return None
    said = "; ".join(f"{model}: {' or '.join(v)}" for model, v in tested.items())
    return _own(
        "lrt_different_data",
        "Models compared on different data",
        "The models of this anova() were fitted to different data: each one's numbers are "
        f"reproduced only with its own ({said}). A likelihood-ratio test compares two fits "
        "of the same data; these numbers compare the data, not the models.",
        "Make every variable first (cses = ses - meanses), then fit every model to that one "
        "data frame, and compare them.",
    )


def _within(qid: str, printed: float, value: float, tolerances: Mapping[str, float]) -> bool:
    """Whether a number is its program's own computation of ``value`` (:data:`.printout.
    PROGRAM_TOLERANCE`)."""
    import fnmatch

    relative = max(
        (t for pattern, t in tolerances.items() if fnmatch.fnmatchcase(qid, pattern)), default=0.0
    )
    return relative > 0 and abs(printed - value) <= relative * abs(value)


def _centring(variant: Variant) -> tuple[tuple[str, str], ...]:
    """The reference's ``replace`` for the SES variant: none for the school-centred."""
    column = SES_COLUMN[variant.ses]
    return () if column == "cses" else (("cses", column),)


def _computation(model: TheirModel, printed: Mapping[str, Printed]) -> str:
    """What the printed numbers are of the model written (see :attr:`TheirModel.computation`):
    near its optimum when every number is within :data:`NEAR_OPTIMUM` of it, or when the
    printed criterion is within :data:`NEAR_CRITERION` above the optimum's (a program that
    stops early on a flat likelihood moves a variance by percents, its criterion by
    hundredths; another model or other data move the criterion by units or more)."""
    if not model.unreproduced:
        return "correct" if model.point == "optimum" else "lme4 stopping point"
    near = all(
        abs(printed[q].value - model.values[q]) <= NEAR_OPTIMUM * max(abs(model.values[q]), 1e-8)
        for q in model.unreproduced
        if math.isfinite(printed[q].value)
    )
    criterion = printed.get("criterion")
    if criterion is not None and "criterion" in model.values:
        excess = criterion.value - model.values["criterion"]
        # a number typed over keeps the criterion: near only if the fixed effects are too
        fixed_near = all(
            abs(printed[q].value - model.values[q]) <= NEAR_FIXED * abs(model.values[q])
            for q in model.unreproduced
            if q.startswith("fixed.")
        )
        # at its printed digits: nlme's logLik -23252 is a criterion of 46504 +- 1
        allowed = NEAR_CRITERION + unit_of(criterion.text)
        near = near or (-allowed <= excess <= allowed and fixed_near)
    return "near optimum" if near else "not this model"


def _renamer(roles: Mapping[str, str], codings: Mapping[str, Coding]) -> Any:
    """A function from a part of a printed term's name to the reference's name for it."""
    parts: dict[str, str] = {}
    for name, role in roles.items():
        if role == "ses":
            parts[name] = "cses"
        elif role in codings:
            coding = codings[role]
            parts[name + (coding.label or "")] = coding.token
            if coding.sum_to_zero:  # a numeric column of its own name where it is fitted
                parts[name] = coding.token
        else:
            parts[name] = role
    return lambda part: parts.get(part, part)


def rename_term(term: str, rename: Any) -> str:
    return ":".join(rename(part) for part in term.split(":"))


def _spec(formula: Any, roles: Mapping[str, str], estimation: str) -> ModelSpec:
    """The model written, in the reference's vocabulary (terms of roles, not of levels)."""

    def role_term(term: tuple) -> str:
        return ":".join("cses" if roles[v.label] == "ses" else roles[v.label] for v in term)

    return ModelSpec(
        fixed=tuple(role_term(t) for t in formula.fixed.terms),
        random=tuple(role_term(t) for t in formula.random.terms),
        reml=estimation == "REML",
        covariance=formula.covariance,
    )


def _printed_numbers(summary: Summary, names: Mapping[str, str]) -> dict[str, Printed]:
    """A printed summary's numbers under quantity ids, its terms named by ``names``."""
    from hlmrep.grading.matching import common_numbers, fixed_numbers

    numbers: dict[str, Printed] = {}
    for term in summary.fixed:
        name = names.get(term.term, term.term)
        fixed_numbers(summary, term, name, numbers)
        if term.term in summary.robust_se:
            numbers[f"fixed.{name}.robust_se"] = summary.robust_se[term.term]
    random_names = {"(Intercept)": "(Intercept)", **names}
    groups: dict[str, list] = {}
    for random_term in summary.random:
        groups.setdefault(random_term.group, []).append(random_term)
    for members in groups.values():
        for term in members:
            name = random_names.get(term.name, term.name)
            if term.variance is not None:
                numbers[f"random.{name}.variance"] = term.variance
            if term.sd is not None:
                numbers[f"random.{name}.sd"] = term.sd
            for other, correlation in zip(members, term.correlations, strict=False):
                first = random_names.get(other.name, other.name)
                numbers[f"random.corr.{first}.{name}"] = correlation
            for other, covariance in zip(members, term.covariances, strict=False):
                first = random_names.get(other.name, other.name)
                numbers[f"random.cov.{first}.{name}"] = covariance
    common_numbers(summary, numbers)
    return numbers


# ----- the specification ---------------------------------------------------------------------
def _same_term(a: str, b: str) -> bool:
    return set(a.split(":")) == set(b.split(":"))


def _term_in(term: str, terms: tuple[str, ...]) -> str | None:
    return next((t for t in terms if _same_term(t, term)), None)


def shared_terms(theirs: ModelSpec, reference: ModelSpec) -> int:
    """How many fixed and random terms two models have in common."""
    fixed = sum(1 for t in theirs.fixed if _term_in(t, reference.fixed) is not None)
    return fixed + sum(1 for t in theirs.random if _term_in(t, reference.random) is not None)


def differences(
    theirs: ModelSpec,
    reference_name: str,
    references: References,
    sample: str | None = None,
) -> list[dict[str, Any]]:
    """Every way the model written differs from a reference model, each as the catalogued
    mistake that is exactly that difference when there is one, else in words of its own.

    Each is ``{"id", "title", "explanation", "fix", "kind"}``; an empty list: the same
    model (perhaps in another parametrisation, which :func:`parametrisation_notes` says)."""
    reference = references.models[reference_name].spec
    found: list[tuple[ModelSpec, dict[str, Any]]] = []
    ses_column = dict(theirs.replace).get("cses", "cses")

    def shown(term: str) -> str:
        """A term as the student's model has it: raw SES is ses, not cses."""
        return ":".join(ses_column if part == "cses" else part for part in term.split(":"))

    def add(changed: ModelSpec, own: dict[str, Any]) -> None:
        found.append((changed, own))

    if theirs.reml != reference.reml:
        estimation = "REML" if theirs.reml else "ML"
        add(
            replace(reference, reml=theirs.reml),
            _own(
                "estimation",
                f"Fitted by {estimation}",
                f"The model was fitted by {estimation}; the reference by "
                f"{'REML' if reference.reml else 'ML'}.",
                f"Fit by {'REML' if reference.reml else 'ML'}.",
            ),
        )
    if reference.uses("cses") and theirs.uses("cses") and theirs.replace != reference.replace:
        add(
            replace(reference, replace=reference.replace + theirs.replace),
            _own(
                "centring",
                "SES centred differently",
                "SES is not centred on its school's mean as in the reference.",
                "Centre SES on the school mean: cses = ses - meanses.",
            ),
        )
    if reference.uses("meanses") and theirs.uses("meanses") and theirs.meanses != reference.meanses:
        add(
            replace(reference, meanses=theirs.meanses),
            _own(
                "meanses_source",
                "Another MEANSES",
                f"MEANSES is {MEANSES_VARIANTS[theirs.meanses]}; the reference uses "
                f"{MEANSES_VARIANTS[reference.meanses]}.",
                "Use the reference's MEANSES.",
            ),
        )
    for term in reference.fixed:
        if _term_in(term, theirs.fixed) is None:
            add(
                replace(reference, fixed=tuple(t for t in reference.fixed if t != term)),
                _own(
                    f"missing_fixed_{term}",
                    f"Fixed effect {term} left out",
                    f"The reference model has the fixed term {term}; this model does not.",
                    f"Add {term} to the fixed part.",
                ),
            )
    for term in theirs.fixed:
        if _term_in(term, reference.fixed) is None:
            add(
                replace(reference, fixed=(*reference.fixed, term)),
                _own(
                    f"extra_fixed_{term}",
                    f"Extra fixed effect {shown(term)}",
                    f"This model has the fixed term {shown(term)}, which the reference model "
                    "does not have.",
                    f"Leave {shown(term)} out.",
                ),
            )
    same_random = sorted(theirs.random) == sorted(reference.random)
    if not same_random:
        missing = [t for t in reference.random if _term_in(t, theirs.random) is None]
        extra = [t for t in theirs.random if _term_in(t, reference.random) is None]
        words = []
        if missing:
            words.append("without a random " + ", ".join(missing))
        if extra:
            words.append("with an extra random " + ", ".join(extra))
        bar = "||" if reference.covariance == "diagonal" else "|"
        wanted = " + ".join(["1", *reference.random])
        add(
            replace(reference, random=theirs.random),
            _own(
                "random_part",
                "Another random part",
                "The random effects differ from the reference's: " + "; ".join(words) + ".",
                f"Use ({wanted} {bar} school).",
            ),
        )
    if theirs.random and reference.random and theirs.covariance != reference.covariance:
        add(
            replace(reference, covariance=theirs.covariance),
            _own(
                "covariance",
                "Another covariance of the random effects",
                f"The random effects are {theirs.covariance}; the reference's are "
                f"{reference.covariance}.",
                "Use the reference's bar: | (correlated) or || (uncorrelated).",
            ),
        )
    out = [
        _catalogued(changed, reference_name, reference, references) or own for changed, own in found
    ]
    if sample is not None:
        out.append(
            _own(
                "sample",
                "Fitted to part of the sample",
                f"The model was fitted to {sample}, not to all of HSB's students and schools.",
                "Fit the whole sample: no subset() and no rows dropped.",
            )
        )
    return out


#: What each program prints when its optimizer did not converge, and how to refit.
NOT_CONVERGED_WORDS = {
    "statsmodels": (
        "Converged: No",
        "in statsmodels, fit(method=['lbfgs']) or another method, or other start values",
    ),
    "lme4": (
        "Model failed to converge",
        "in lme4, lmerControl(optimizer = 'bobyqa') or allFit(), or rescale the predictors",
    ),
    "glmmTMB": (
        "a convergence warning",
        "in glmmTMB, glmmTMBControl(optimizer = optim, optArgs = list(method = 'BFGS'))",
    ),
}


def not_converged(program: str) -> dict[str, Any]:
    """The difference of a fit its program says did not converge, in that program's words."""
    said, refit = NOT_CONVERGED_WORDS.get(
        program, ("that it did not converge", "another optimizer or other start values")
    )
    return _own(
        "not_converged",
        "The fit did not converge",
        f"{program} says the optimizer did not converge ({said}): its numbers are where "
        "the optimizer stopped, not the model's estimates, whatever the model.",
        f"Refit until it converges: {refit}; check the estimates against lme4's at its optimum.",
    )


def with_prior(program: str, priors: list[str]) -> dict[str, Any]:
    """The difference of a fit whose program maximises the likelihood times a prior
    (blme): an estimator, not a specification, differs from the reference's."""
    said = "; ".join(priors) or "its prior"
    return _own(
        "estimator_with_prior",
        "An estimator with a prior, not REML",
        f"{program} fits the model you wrote with a prior ({said}): its estimates maximise "
        "the likelihood times the prior, so they are pulled towards the prior where the "
        "data say little (here the random effects' covariance), and are not the REML "
        "estimates the assignment asks for. The model itself is not wrong.",
        "Fit the model with lme4::lmer (or blmer with cov.prior = NULL) for the REML "
        "estimates; report the prior's fit beside them if it is part of the analysis.",
    )


def not_equivalent(title: str, parametrisation: str) -> dict[str, Any]:
    """The difference of a model written as the reference in another parametrisation whose
    fit is not the reference's (its residual variance differs)."""
    return _own(
        "not_equivalent",
        "Not the reference model in another parametrisation",
        f"The model has the terms of {title} ({parametrisation}), but its fit is not that "
        "model's: the residual variance differs, so the variables are not what their names "
        "say.",
        "Check how the variables were made; fit the reference's variables.",
    )


def _own(identifier: str, title: str, explanation: str, fix: str) -> dict[str, Any]:
    return {
        "id": identifier,
        "title": title,
        "explanation": explanation,
        "fix": fix,
        "kind": "mistake",
    }


def _catalogued(
    changed: ModelSpec, reference_name: str, reference: ModelSpec, references: References
) -> dict[str, Any] | None:
    """The catalogued mistake whose model is exactly ``changed``, in its own words."""
    for mistake in references.mistakes.values():
        if mistake.applies(reference_name) and mistake.derive_model(reference) == changed:
            return {
                "id": mistake.id,
                "title": mistake.title,
                "explanation": mistake.explanation,
                "fix": mistake.fix,
                "kind": mistake.kind,
            }
    return None


def parametrisation_notes(model: TheirModel) -> list[str]:
    """How the student's parametrisation differs from the reference's, in words: the same
    model, with numbers that are compared in the student's own parametrisation."""
    notes = []
    for coding in model.codings.values():
        written = next(n for n, r in model.roles.items() if r == coding.role)
        if coding.sum_to_zero:
            notes.append(
                f"{written}: sum-to-zero contrasts (+1 {coding.marked}, −1 "
                f"{coding.baseline_label}, as afex sets them), so the intercept is the mean of "
                f"the two {_unit(coding.role)}s' and the {coding.role} effect is half the "
                f"difference of {coding.marked} from {coding.baseline_label}; the REML "
                "criterion differs from the reference's by a constant"
            )
            continue
        if coding.label is None and not coding.relevelled:
            continue  # a 0/1 dummy of the reference's level: the same numbers
        if coding.relevelled:
            notes.append(
                f"{written}: its baseline is {MARKED[coding.role]} (relevelled), so the "
                f"intercept is a {MARKED[coding.role]} {_unit(coding.role)}'s and the "
                f"{coding.role} effect has the opposite sign"
            )
    if model.standardised:
        notes.append(
            "SES is standardised: its coefficients and its random slope are per standard "
            "deviation of SES, not per unit"
        )
    return notes


def _unit(role: str) -> str:
    return "school" if role == "sector" else "student"


def is_reparametrised(model: TheirModel) -> bool:
    return model.standardised or any(c.relevelled or c.sum_to_zero for c in model.codings.values())

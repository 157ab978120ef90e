"""Which reference model a submitted model attempts, and which known model its numbers are.

A printed ``summary()`` names its terms as the student named the variables (``ses_c``,
``MEANSES``, ``sector``), so terms are lined up with a candidate's by their roles and
numbers, never by name: the intercept with the intercept, an interaction with an
interaction, and the rest by the assignment (Hungarian algorithm) that minimises the
estimates' and standard errors' distances in units of the candidate's standard error.
A random slope then takes the name its fixed effect was matched to.

Every candidate of every reference model (its verified optimum, its printed numbers and
each known mistake, from the grading catalogue) is lined up this way and scored: how many
structural differences remain (REML/ML, terms without a counterpart, the grouping of the
random effects), and what share of the submitted numbers agree with the candidate's. The
best candidate names the reference attempted and, when it is a mistake, the diagnosis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hlmrep.grading.printout import Anova, FixedTerm, FTests, Printed, RandomTerm, Summary
from hlmrep.grading.references import f_test_id
from hlmrep.grading.verdicts import Number, unit_of, unit_of_digits

#: Relative slack when deciding whether a submitted number *is* a candidate's (on top of
#: 2 units of the last printed digit): lme4's optimizer stops where variance components
#: agree with the optimum to about 3 digits, fixed effects to about 6.
AGREEMENT_RELATIVE = {
    "random": 2e-3,
    "residual": 2e-3,
    "scaled_residuals": 1e-3,
    "fixed": 1e-5,
}
#: Relative slack of the tests computed from a fit (a t test's df and p-value, Kenward-Roger's
#: SE, an F table's cells): they move with the variance components, and a p-value with the
#: t value to a power (lme4's stopping point moves model4's p-values by up to 0.3 %).
TESTS_RELATIVE = 2e-3
P_VALUE_RELATIVE = 1e-2
#: Quantities that are counts: they agree only when equal.
COUNTS = {"n_obs", "n_groups", "reduced.npar", "full.npar", "df"}
#: Agreement shares at and above which a match is called high / medium confidence.
HIGH, MEDIUM = 0.9, 0.6
_BIG = 1e6
_KIND_RANK = {"correct": 0, "accepted": 1, "mistake": 2}


#: The last parts of a fixed effect's quantity ids that are tests computed from the fit.
TEST_SUFFIXES = (".df", ".p", ".kr_se", ".kr_t", ".kr_df", ".kr_p")


def is_test(qid: str) -> bool:
    """A test's number (a t test's df or p, Kenward-Roger's SE or t, an F table's cell)."""
    return qid.startswith("anova.") or (qid.startswith("fixed.") and qid.endswith(TEST_SUFFIXES))


#: How far a program's tests may be from ours at the optimum and still be its computation
#: of them (:attr:`.printout.Program.tolerance`): lme4's default optimizer stops short of
#: the optimum on model4 (a slope SD 0.3179 for 0.3181), which moves lmerTest's df by up to
#: 1e-3 and a p-value by up to 0.3 %.  Never a count's, a bound's or a decision's.
TEST_TOLERANCE = {
    **{f"fixed.*{suffix}": TESTS_RELATIVE for suffix in TEST_SUFFIXES},
    **{f"anova.*.{column}": TESTS_RELATIVE for column in ("sum_sq", "mean_sq", "den_df", "F")},
    "fixed.*.p": P_VALUE_RELATIVE,
    "fixed.*.kr_p": P_VALUE_RELATIVE,
    "anova.*.p": P_VALUE_RELATIVE,
}


def agreement_relative(qid: str) -> float:
    """How far (relative) a submitted number may be from a candidate's and still be it."""
    if is_test(qid):
        return P_VALUE_RELATIVE if is_p_value(qid) else TESTS_RELATIVE
    return AGREEMENT_RELATIVE.get(qid.split(".")[0], 0.0)


def is_count(qid: str) -> bool:
    """A quantity that agrees only when equal: n, J, npar, a test's df (an F test's
    numerator df)."""
    return qid in COUNTS or qid.endswith(".num_df")


def is_p_value(qid: str) -> bool:
    """A p-value: judged by the decision it leads to as well as by its digits."""
    return qid == "p_value" or qid.endswith((".p", ".kr_p"))


@dataclass
class Alignment:
    """A submission's numbers named in a candidate's vocabulary, and what did not line up."""

    numbers: dict[str, Printed]
    differences: list[str] = field(default_factory=list)
    #: submitted term name -> reference id
    names: dict[str, str] = field(default_factory=dict)


@dataclass
class Score:
    target: str
    candidate: Mapping[str, Any]
    alignment: Alignment
    agree: int
    compared: int
    distance: float

    @property
    def share(self) -> float:
        return self.agree / self.compared if self.compared else 0.0

    #: 0 for a model whose numbers a source printed, 1 for one seen only inside an LRT: of
    #: two equal explanations, the printed model is the one a submission attempts.
    target_rank: int = 0

    def key(self) -> tuple:
        return (
            len(self.alignment.differences),
            -round(self.share, 9),
            _KIND_RANK[self.candidate["kind"]],
            self.target_rank,
            self.distance,
        )

    @property
    def confidence(self) -> str:
        differences = len(self.alignment.differences)
        if differences == 0 and self.share >= HIGH:
            return "high"
        if (differences == 0 and self.share >= MEDIUM) or (differences <= 1 and self.share >= HIGH):
            return "medium"
        return "low"


def agreement(qid: str, submitted: Printed, value: float, digits: int | None) -> tuple[bool, float]:
    """Whether a submitted number is a candidate's number, and how far (in allowances)."""
    if not (math.isfinite(submitted.value) and math.isfinite(value)):
        return False, 10.0
    if is_count(qid):
        same = submitted.value == value
        return same, 0.0 if same else 10.0
    if submitted.bound == "<":
        return value <= submitted.value, 0.0 if value <= submitted.value else 10.0
    relative = agreement_relative(qid)
    allowance = max(
        2 * unit_of(submitted.text), 2 * unit_of_digits(digits), relative * abs(value), 1e-12
    )
    distance = abs(submitted.value - value) / allowance
    return distance <= 1.0, min(distance, 10.0)


def score(target: str, candidate: Mapping[str, Any], alignment: Alignment) -> Score:
    agree = compared = 0
    total = 0.0
    digits = candidate.get("digits", {})
    bounds = candidate.get("bounds", {})
    for qid, printed in alignment.numbers.items():
        if qid not in candidate["values"]:
            continue
        value = candidate["values"][qid]
        if value != value:  # NaN: not defined for this candidate
            continue
        if bounds.get(qid) == "<":
            ok, distance = (printed.value <= value, 0.0 if printed.value <= value else 10.0)
        else:
            ok, distance = agreement(qid, printed, value, digits.get(qid))
        compared += 1
        agree += ok
        total += distance
    return Score(target, candidate, alignment, agree, compared, total / max(compared, 1))


# ----- lining up a printed summary() with a candidate ---------------------------------------
def _structure(candidate: Mapping[str, Any], optimum: Mapping[str, Any]) -> Mapping[str, Any]:
    """A candidate's terms; the printed numbers take their model's optimum structure."""
    return candidate if "fixed_terms" in candidate else optimum


def _order(name: str) -> int:
    return name.count(":")


def align_summary(
    summary: Summary, candidate: Mapping[str, Any], optimum: Mapping[str, Any]
) -> Alignment:
    """Name a printed summary's numbers in the candidate's vocabulary (see the module)."""
    from scipy.optimize import linear_sum_assignment

    structure = _structure(candidate, optimum)
    values = candidate["values"]
    theirs = structure["fixed_terms"]
    ours = summary.fixed
    numbers: dict[str, Printed] = {}
    differences: list[str] = []
    estimation = structure["estimation"]
    if summary.estimation != estimation:
        differences.append(f"fitted by {summary.estimation}, the candidate by {estimation}")

    cost = [[_BIG] * len(theirs) for _ in ours]
    for i, term in enumerate(ours):
        for j, reference in enumerate(theirs):
            if (term.term == "(Intercept)") != (reference == "(Intercept)"):
                continue
            if _order(term.term) != _order(reference):
                continue
            est = values.get(f"fixed.{reference}.estimate")
            se = values.get(f"fixed.{reference}.se") or 1.0
            if est is None:
                cost[i][j] = _BIG / 2
                continue
            printed_se = se if term.std_error is None else term.std_error.value
            distance = (abs(term.estimate.value - est) + abs(printed_se - se)) / abs(se)
            # Far off is still a counterpart (an intercept of 300000 is a wrong intercept,
            # not a missing one): capped below _BIG, which marks pairs that cannot match.
            cost[i][j] = min(distance, _BIG / 4) if math.isfinite(distance) else _BIG / 4
    names: dict[str, str] = {}
    if ours and theirs:
        rows, cols = linear_sum_assignment(cost)
        for i, j in zip(rows, cols, strict=True):
            if cost[i][j] < _BIG:
                names[ours[i].term] = theirs[j]
    for term in ours:
        reference = names.get(term.term)
        if reference is None:
            differences.append(f"fixed term {term.term!r} has no counterpart")
            continue
        fixed_numbers(summary, term, reference, numbers)
    for reference in theirs:
        if reference not in names.values():
            differences.append(f"no fixed term for {reference}")

    variables = {k: v for k, v in names.items() if _order(k) == 0}
    _align_random(summary, structure, values, variables, numbers, differences)
    common_numbers(summary, numbers)
    return Alignment(numbers, differences, names)


def test_columns(df_method: str) -> dict[str, str]:
    """The quantity ids' last part for each printed column of a fixed effect's test, by
    the method of its df (:attr:`Summary.df_method`): lmerTest's Kenward-Roger summary
    prints KR's adjusted SE and the t value from it; a df and a p-value are graded only
    where the method that computed them is said."""
    if df_method == "kenward_roger":
        return {"std_error": "kr_se", "t_value": "kr_t", "df": "kr_df", "p_value": "kr_p"}
    columns = {"std_error": "se", "t_value": "t"}
    if df_method == "satterthwaite":
        columns |= {"df": "df", "p_value": "p"}
    return columns


def fixed_numbers(
    summary: Summary, term: FixedTerm, reference: str, numbers: dict[str, Printed]
) -> None:
    """A printed fixed effect's numbers under ``reference``'s quantity ids."""
    numbers[f"fixed.{reference}.estimate"] = term.estimate
    for attribute, suffix in test_columns(summary.df_method).items():
        value = getattr(term, attribute)
        if value is not None:
            numbers[f"fixed.{reference}.{suffix}"] = value


def common_numbers(summary: Summary, numbers: dict[str, Printed]) -> None:
    """Add the numbers every summary names alike: sigma, the criterion (REML) or the fit
    statistics (ML), the scaled residuals' quantiles, n and J."""
    if summary.residual_variance is not None:
        numbers["residual.variance"] = summary.residual_variance
    if summary.residual_sd is not None:
        numbers["residual.sd"] = summary.residual_sd
    if summary.estimation == "REML" and summary.reml_criterion is not None:
        numbers["criterion"] = summary.reml_criterion
    elif "deviance" in summary.fit_statistics:
        numbers["criterion"] = summary.fit_statistics["deviance"]
        for key in ("AIC", "BIC", "logLik"):
            if key in summary.fit_statistics:
                numbers[f"fit.{key}"] = summary.fit_statistics[key]
    for key, value in zip(
        ("min", "q1", "median", "q3", "max"), summary.scaled_residuals, strict=False
    ):
        numbers[f"scaled_residuals.{key}"] = value
    if "ICC" in summary.fit_statistics:
        numbers["icc"] = summary.fit_statistics["ICC"]
    if summary.n_obs is not None:
        numbers["n_obs"] = Printed(float(summary.n_obs), str(summary.n_obs))
    if summary.groups:
        count = next(iter(summary.groups.values()))
        numbers["n_groups"] = Printed(float(count), str(count))


def _align_random(
    summary: Summary,
    structure: Mapping[str, Any],
    values: dict[str, float],
    variables: dict[str, str],
    numbers: dict[str, Printed],
    differences: list[str],
) -> None:
    groups: dict[str, list] = {}
    for term in summary.random:
        groups.setdefault(term.group, []).append(term)
    theirs_groups = structure["random_groups"]
    theirs = [t for g in theirs_groups for t in g]
    if summary.truncated:
        return  # no random effects printed: nothing to line up, nothing differs
    if sorted(len(g) for g in groups.values()) != sorted(len(g) for g in theirs_groups):
        shape = "+".join(str(len(g)) for g in groups.values()) or "none"
        expected = "+".join(str(len(g)) for g in theirs_groups)
        differences.append(f"random effects grouped as {shape}, the candidate as {expected}")
    mapped: dict[int, str] = {}
    free = list(theirs)
    terms = list(summary.random)
    for k, term in enumerate(terms):
        name = "(Intercept)" if term.name == "(Intercept)" else variables.get(term.name)
        if name is not None and name in free:
            mapped[k] = name
            free.remove(name)
    for k, term in enumerate(terms):  # not named by a fixed effect: by its variance
        if k in mapped or not free:
            continue
        printed = term.variance.value if term.variance is not None else _sd(term) ** 2
        best = min(free, key=lambda t: abs(values.get(f"random.{t}.variance", _BIG) - printed))
        if best != "(Intercept)":
            mapped[k] = best
            free.remove(best)
    order = {t: i for i, t in enumerate(theirs)}
    for k, term in enumerate(terms):
        name = mapped.get(k)
        if name is None:
            differences.append(f"random term {term.name!r} has no counterpart")
            continue
        if term.variance is not None:  # nlme prints standard deviations only
            numbers[f"random.{name}.variance"] = term.variance
        if term.sd is not None:  # statsmodels variances only
            numbers[f"random.{name}.sd"] = term.sd
        siblings = [j for j, other in enumerate(terms) if other.group == term.group]
        for position, correlation in zip(siblings, term.correlations, strict=False):
            other = mapped.get(position)
            if other is None:
                continue
            a, b = sorted((other, name), key=order.__getitem__)
            numbers[f"random.corr.{a}.{b}"] = correlation
        for position, covariance in zip(siblings, term.covariances, strict=False):
            other = mapped.get(position)
            if other is not None:
                a, b = sorted((other, name), key=order.__getitem__)
                numbers[f"random.cov.{a}.{b}"] = covariance
    for name in free:
        differences.append(f"no random term for {name}")


def _sd(term: RandomTerm) -> float:
    assert term.sd is not None  # a random term prints its variance, its SD or both
    return term.sd.value


# ----- F tables ---------------------------------------------------------------------------
def align_f_table(
    table: FTests,
    candidate: Mapping[str, Any],
    term_roles: Callable[[str], frozenset[str] | None],
) -> Alignment:
    """Name a printed F table's cells in the candidate's vocabulary: each row is the
    candidate's term of the same variables (by role, ``term_roles``: ``ses_cwc:sector`` is
    ``cses:sector``; a test of minority is never sector's), or, for a name of no known role
    (None), the term of the same order closest in its F value."""
    from scipy.optimize import linear_sum_assignment

    theirs = list(candidate.get("tested_terms", []))
    values = candidate["values"]
    numbers: dict[str, Printed] = {}
    differences: list[str] = []
    names: dict[str, str] = {}
    rows = table.rows
    cost = [[_BIG] * len(theirs) for _ in rows]
    for i, row in enumerate(rows):
        roles = term_roles(row.term)
        for j, term in enumerate(theirs):
            if _order(row.term) != _order(term):
                continue
            if roles is not None:
                if roles == frozenset(term.split(":")):
                    cost[i][j] = 0.0
                continue
            ours = row.values.get("F")
            reference = values.get(f_test_id(table.type, table.method, term, "F"))
            if ours is None or reference is None or not ours.value > 0 or not reference > 0:
                cost[i][j] = _BIG / 4
            else:
                cost[i][j] = 1.0 + min(abs(math.log(ours.value / reference)), _BIG / 8)
    if rows and theirs:
        for i, j in zip(*linear_sum_assignment(cost), strict=True):
            if cost[i][j] < _BIG:
                names[rows[i].term] = theirs[j]
    for row in rows:
        term = names.get(row.term)
        if term is None:
            differences.append(f"F test of {row.term!r} has no counterpart")
            continue
        for column, value in row.values.items():
            numbers[f_test_id(table.type, table.method, term, column)] = value
    for term in theirs:
        if term not in names.values():
            differences.append(f"no F test of {term}")
    return Alignment(numbers, differences, names)


# ----- LRTs and answer sheets -----------------------------------------------------------------
_ANOVA_COLUMNS = ("npar", "AIC", "BIC", "logLik", "deviance")


def anova_pairs(anova: Anova) -> list[tuple[str, dict[str, Printed]]]:
    """Each test of a printed ``anova()``: a row and the one before it, as quantity ids."""
    out = []
    for previous, row in zip(anova.rows, anova.rows[1:], strict=False):
        numbers: dict[str, Printed] = {}
        for role, source in (("reduced", previous), ("full", row)):
            for column in _ANOVA_COLUMNS:
                if column in source.values:
                    numbers[f"{role}.{column}"] = source.values[column]
        for column, qid in (("Chisq", "chisq"), ("Df", "df"), ("Pr(>Chisq)", "p_value")):
            if column in row.values:
                numbers[qid] = row.values[column]
        out.append((f"{previous.model} vs {row.model}", numbers))
    return out


def best_match(scores: list[Score]) -> tuple[Score, list[Score]]:
    """The best-scoring candidate, and the other mistakes that fit exactly as well."""
    ranked = sorted(scores, key=Score.key)
    top = ranked[0]
    ties = [
        s
        for s in ranked[1:]
        if s.key()[:2] == top.key()[:2]
        and s.target == top.target
        and s.candidate.get("mistake")
        and s.candidate.get("mistake") != top.candidate.get("mistake")
        and s.candidate["kind"] == top.candidate["kind"]
    ]
    return top, ties


def number(printed: Printed) -> Number:
    return Number(printed.value, unit_of(printed.text), printed.bound)

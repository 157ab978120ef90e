"""statsmodels' printed ``MixedLM`` results read into the neutral form (:mod:`.printout`).

``print(result.summary())`` of ``smf.mixedlm(...).fit()`` (statsmodels 0.14–0.15) prints a
header of key–value pairs (``Dependent Variable``, ``No. Observations``, ``Method``,
``No. Groups``, ``Scale``, ``Log-Likelihood``, ``Converged``) and one table: the fixed
effects (``Coef.``, ``Std.Err.``, ``z``, ``P>|z|`` and the interval), then the random
effects as variances and covariances (``Group Var``, ``ses_cwc Var``,
``Group x ses_cwc Cov``), three decimals each.  Older versions (0.8 and before) label the
log-likelihood ``Likelihood`` and the random effects ``Intercept RE``, ``temp RE`` and
``Intercept RE x temp RE`` (the covariance): read as the newer names.  Copies of the
printout in Markdown or notebooks indent it, or put it in a table (``|`` between cells):
both are read as the console's.

Read into a :class:`~.printout.Summary`:

- terms take lme4's names: ``Intercept`` is ``(Intercept)``, patsy's
  ``C(sector, Treatment('Public'))[T.Catholic]`` and ``sector[T.Catholic]`` are
  ``sectorCatholic``, an interaction's parts each so;
- the model is rebuilt from the printed terms as an lme4 formula (statsmodels prints no
  formula): the response, the fixed terms, ``(slopes | Group)`` from the ``Var`` rows, with
  ``||`` when no ``Cov`` row is printed; it is fitted like any formula
  (:mod:`.their_model`);
- ``Scale`` is the residual variance; the criterion is −2 × ``Log-Likelihood`` (REML or
  ML, as lme4's; the page says so); ``Converged: No`` is kept (:attr:`Summary.converged`),
  so that a fit that did not converge is graded as such.

A printout cut short (a page ending after the fixed effects) is read as far as it goes.
"""

from __future__ import annotations

import re

from hlmrep.grading.printout import (
    NON_FINITE,
    VARIANCES_ONLY,
    FixedTerm,
    Parsed,
    Program,
    RandomTerm,
    Reader,
    Summary,
    add_block,
    criterion_from_loglik,
    is_number,
    lme4_formula,
    mark_truncated,
    printed,
)

#: The first line of a MixedLM summary.
TITLE = "Mixed Linear Model Regression Results"
_HEADER_KEYS = (
    "Model",
    "Dependent Variable",
    "No. Observations",
    "Method",
    "No. Groups",
    "Scale",
    "Min. group size",
    "Log-Likelihood",
    "Likelihood",  # statsmodels 0.8 and before
    "Max. group size",
    "Converged",
    "Mean group size",
)
_PAIR = re.compile(r"(" + "|".join(re.escape(k) for k in _HEADER_KEYS) + r"):\s+(\S+)")
#: What older versions call the random intercept's row (its covariances' too).
_OLD_INTERCEPT = "Intercept"
_PATSY_LEVEL = re.compile(
    r"^(?:C\(\s*([A-Za-z_.][\w.]*)(?:\s*,.*)?\)|([A-Za-z_.][\w.]*))\[T\.([^\]]+)\]$"
)


def recognises(text: str) -> bool:
    return TITLE in text


def term_name(patsy: str) -> str:
    """A statsmodels (patsy) term as lme4 names it: ``Intercept`` → ``(Intercept)``,
    ``C(sector, Treatment('Public'))[T.Catholic]`` → ``sectorCatholic``."""
    if patsy == "Intercept":
        return "(Intercept)"
    parts = []
    for part in _split_interaction(patsy):
        level = _PATSY_LEVEL.match(part)
        parts.append((level.group(1) or level.group(2)) + level.group(3) if level else part)
    return ":".join(parts)


def _split_interaction(name: str) -> list[str]:
    """``a:C(b, Treatment('x'))[T.y]`` split at the colons outside brackets."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(name):  # slices, never a string grown a character a time
        depth += char in "(["
        depth -= char in ")]"
        if char == ":" and depth == 0:
            parts.append(name[start:index])
            start = index + 1
    return [*parts, name[start:]]


def _variable(lme4_part: str, patsy_part: str) -> str:
    """The variable behind one part of a term (``sector`` for ``sectorCatholic``)."""
    level = _PATSY_LEVEL.match(patsy_part)
    return (level.group(1) or level.group(2)) if level else lme4_part


def parse(text: str) -> Parsed:
    """Every MixedLM summary in ``text`` (see the module)."""
    lines = text.splitlines()
    parsed = Parsed([], [])
    index = 0
    while index < len(lines):
        if TITLE in lines[index]:
            summary, index = _summary(lines, index)
            add_block(parsed, summary, "statsmodels summary")
            continue
        index += 1
    return parsed


def _summary(lines: list[str], start: int) -> tuple[Summary, int]:
    header: dict[str, str] = {}
    index = start + 1
    while index < len(lines) and not _cells(lines[index]).startswith("Coef."):
        for key, value in _PAIR.findall(_cells(lines[index])):
            header[key] = value
        index += 1
        if index - start > 20:  # not a summary's header after all
            break
    summary = Summary(
        line=start + 1,
        estimation="ML" if header.get("Method") == "ML" else "REML",
        program="statsmodels",
    )
    if header.get("Converged") in ("Yes", "No"):
        summary.converged = header["Converged"] == "Yes"
    observations, groups = header.get("No. Observations", ""), header.get("No. Groups", "")
    if observations.isdigit():
        summary.n_obs = int(observations)
    if groups.isdigit():
        summary.groups = {"Group": int(groups)}
    if is_number(header.get("Scale", "")):
        summary.residual_variance = printed(header["Scale"])
    label = "Log-Likelihood" if "Log-Likelihood" in header else "Likelihood"
    loglik = header.get(label, "")
    if is_number(loglik) and loglik not in NON_FINITE:  # R's words, never statsmodels'
        criterion_from_loglik(summary, loglik, "statsmodels", label)
    index += 1
    fixed_patsy: list[str] = []
    variances: dict[str, RandomTerm] = {}
    covariances: list[tuple[str, str, str]] = []
    while index < len(lines):
        text = _cells(lines[index])
        index += 1
        if not text or set(text) <= {"-"}:
            continue
        if set(text) <= {"="}:
            break
        tokens = text.split()
        count = 0
        while count < len(tokens) and is_number(tokens[-1 - count]):
            count += 1
        name = " ".join(tokens[: len(tokens) - count])
        numbers = [printed(t) for t in tokens[len(tokens) - count :]]
        pair = _covariance_pair(name)
        if pair is not None and 1 <= count <= 2:
            covariances.append((*pair, numbers[0].text))
        elif name.endswith((" Var", " RE")) and 1 <= count <= 2:
            term = _random_name(name)
            variances[term] = RandomTerm("Group", term, numbers[0], None)
        elif count >= 4 and name:
            fixed_patsy.append(name)
            summary.fixed.append(
                FixedTerm(term_name(name), numbers[0], numbers[1], numbers[2], p_value=numbers[3])
            )
        else:
            summary.unread.append(f"line {index}: row not read: {text[:80]!r}")
    _random(summary, variances, covariances)
    if not variances and summary.fixed:
        mark_truncated(summary)
    if variances:  # a printout cut before its random effects names no model to fit
        summary.formula = _formula(
            header.get("Dependent Variable", "y"), fixed_patsy, variances, bool(covariances)
        )
    return summary, index


def _cells(line: str) -> str:
    """A line as the console printed it: without a copy's indentation, and a Markdown
    table row (``| Intercept | 8.921 | ...``) without its bars (the column header's
    ``P>|z|`` too: it is not read)."""
    text = line.strip()
    if text.startswith("|"):
        text = " ".join(text.replace("|", " ").split())
    return text


def _random_name(label: str) -> str:
    """A random-effect row's variable, in the newer versions' names: ``Group Var`` and the
    older ``Intercept RE`` are ``Group`` (the intercept), ``temp RE`` is ``temp``."""
    if label.endswith(" RE"):
        name = label.removesuffix(" RE")
        return "Group" if name == _OLD_INTERCEPT else name
    return label.removesuffix(" Var")


def _covariance_pair(label: str) -> tuple[str, str] | None:
    """The two variables of a covariance row: ``Group x ses_cwc Cov``, or the older
    ``Intercept RE x temp RE``; None for any other row."""
    if label.endswith(" Cov"):
        a, _, b = label.removesuffix(" Cov").partition(" x ")
        return (a, b) if a and b else None
    if label.endswith(" RE"):
        a, _, b = label.partition(" RE x ")
        return (_random_name(f"{a} RE"), _random_name(b)) if a and b else None
    return None


def _random(
    summary: Summary, variances: dict[str, RandomTerm], covariances: list[tuple[str, str, str]]
) -> None:
    """The random effects in lme4's order and names: the intercept (``Group``) first."""
    order = sorted(variances, key=lambda t: (t != "Group", list(variances).index(t)))
    for name in order:
        term = variances[name]
        term.name = "(Intercept)" if name == "Group" else term_name(name)
        for a, b, text in covariances:
            if name in (a, b):
                other = b if name == a else a
                # a covariance with an effect whose variance is not printed (a page cut
                # or a row run together) is not this table's
                if other in order and order.index(other) < order.index(name):
                    term.covariances.append(printed(text))
        summary.random.append(term)


def _formula(
    response: str, fixed: list[str], variances: dict[str, RandomTerm], correlated: bool
) -> str:
    """The model as an lme4 formula, rebuilt from the printed terms (statsmodels prints
    none): variables as they were named, factors by their variable."""
    terms = []
    for patsy in fixed:
        if patsy == "Intercept":
            continue
        parts = _split_interaction(patsy)
        term = ":".join(_variable(term_name(p), p) for p in parts)
        if term not in terms:  # a factor prints a row per level: one term
            terms.append(term)
    slopes = [_variable(term_name(n), n) for n in variances if n != "Group"]
    return lme4_formula(
        response, terms, slopes, "Group", correlated=correlated, intercept="Group" in variances
    )


STATSMODELS = Program(
    name="statsmodels",
    block_label="MixedLM summary",
    title="Python statsmodels MixedLM",
    prints="variances",
    default_method="REML",
    never_prints=VARIANCES_ONLY,
    printed_units={"fixed.*": 0.001, "random.*": 0.001},
    tolerance={"fixed.*.se": 5e-3, "fixed.*.t": 5e-3},
)


READER = Reader(
    name="statsmodels output",
    programs=(STATSMODELS,),
    recognises=recognises,
    parse=parse,
    order=20,
)

"""R's printed mixed-model output read into the neutral form (:mod:`.printout`): lme4's and
lmerTest's ``summary()``, ``anova()`` and ``ranova()``, nlme's ``summary(lme)``,
``confint()``, ``fixef()`` and the F tables of one fit (lmerTest's, lme4's, afex's).

A building block for grading others' replications: a student's pasted output is
untrusted text, so it is read by line patterns into numbers and names, nothing else, and
never evaluated.  Each number keeps the text it was printed as (:class:`Printed`), since a
grade compares it with the reference at the digits it was printed with.

What it reads, as R 4.x, lme4 1.1, lmerTest 3.1 and nlme 3.1 print it, with or without
knitr's ``## ``, reprex's ``#> `` or the console's ``> `` prefixes (or a script's ``#`` when
the output is pasted back into it as comments, a remark after a row's numbers cut), with
the columns aligned or the spaces collapsed (as when copied from a web page), several
blocks in one text, in any order, whatever the variable and data names:

- ``summary(lmer(...))``, REML or ML, lme4's or lmerTest's: the formula, the REML
  criterion or AIC, BIC, logLik, deviance and df.resid, the scaled residuals, the random
  effects (groups, names, variances, SDs, correlations), the residual variance, the numbers
  of observations and groups, the fixed effects (estimate, standard error, t value;
  lmerTest's df and p, in every form R prints a p-value: ``<2e-16``, ``< 2e-16``,
  ``9.74e-05``, ``0.000652``, with stars or without; the df's method from the title,
  Satterthwaite's or Kenward-Roger's, whose SEs are then KR's adjusted ones);
- ``anova(m)`` of one fit: lmerTest's type I, II or III table with Satterthwaite's or
  Kenward-Roger's df (Sum Sq, Mean Sq, NumDF, DenDF, F, p; lmerTest 2's heading too, a
  table split at the console's width merged by term), lme4's own sequential table (npar,
  Sum Sq, Mean Sq, F) and afex ``mixed()``'s (its ``1, 143.59`` df cell; S and KR
  methods); an lm() fit's table is not one;
- ``anova(m1, m2, ...)``: the models and their formulas, each row's npar, AIC, BIC,
  logLik, deviance (or ``-2*log(L)``), Chisq, Df, p, and whether R said it refitted by ML;
- lmerTest's ``ranova(m)``: each random term's deletion, read as the likelihood-ratio test
  of the model without it against the model (``<none>``), on the REML criterion;
- lme4's optimizer messages under a summary: ``Model failed to converge`` (or a nonzero
  convergence code) reads the fit as not converged, ``boundary (singular) fit`` is noted;
- car's ``S()`` of an lmer fit (``Estimates of Fixed Effects:`` with z values, the random
  effects' SDs, ``logLik df AIC BIC``), with its title or without (``brief = TRUE``);
- nlme's ``summary(lme(...))``: standard deviations (not variances) and correlations of
  the random effects, each level of a nested grouping with its own group and count
  (``MRN %in% FAMID``), the fixed effects with their DF and p (the table's column chunks
  merged when the console wraps it), AIC, BIC, logLik, the standardized residuals, the
  numbers of observations and groups; a residual correlation or variance structure
  (``corAR1``, ``varIdent``) is not read;
- a summary pasted without its title (from ``Random effects:`` on, say, or a script's
  commented output): read as the program's default estimation, said so, when its fixed
  effects and its residual are there.

A block ends where R's printout of it ends (a blank line or a decoration after its last
table, the next block's header), so prose, code and R's decorations (``---``, ``Signif.
codes``, code fences) around and between blocks are neither read nor reported.  A row
inside a table that cannot be read makes its whole block unread (:attr:`Summary.unread`):
a block is graded whole or not at all.  Printouts that are recognised but that no
reference prints (``drop1``, ``VarCorr``, an lm() fit's ``anova()``) are listed
as read and not graded (:attr:`Parsed.not_graded`).  ``confint()`` matrices (with their
method, from R's message or the pasted call) and ``fixef()``'s named vector are read as
blocks of their own.  A console narrower than a table (or ``sink()``) splits it into
column chunks, merged by term; a formula R wraps is read whole.
"""

from __future__ import annotations

import math
import re

from hlmrep.grading.matching import TEST_TOLERANCE
from hlmrep.grading.printout import (
    F_COLUMNS,
    Anova,
    AnovaRow,
    Coefficients,
    FixedTerm,
    FTestRow,
    FTests,
    IntervalRow,
    Intervals,
    Parsed,
    Printed,
    Program,
    RandomTerm,
    Reader,
    Summary,
    add_block,
    criterion_from_loglik,
    is_number,
    printed,
)
from hlmrep.grading.readers import glmmtmb, r_tables
from hlmrep.grading.readers.r_tables import (
    STARS,
    finish_fixed,
    fixed_header,
    fixed_row,
    is_fixed_header,
    random_row,
    split_bound,
)

__all__ = [
    "Anova",
    "AnovaRow",
    "Coefficients",
    "FixedTerm",
    "IntervalRow",
    "Intervals",
    "Parsed",
    "Printed",
    "RandomTerm",
    "Summary",
    "is_number",
    "parse",
]

#: Rows read per table: lme4's summary of a model of 50 terms has 50 fixed-effect rows, an
#: anova() of a lab compares a handful of models. A larger table is refused whole.
MAX_TABLE_ROWS = {"fixed effects": 200, "random effects": 100, "anova": 20}
#: Lines after a summary's fixed effects that still belong to its printout.
_SUMMARY_TRAILERS = (
    "---",
    "Signif. codes",
    "0 ‘***’",  # the codes' legend, on a line of its own at a narrow width
    "optimizer",
    "boundary (singular)",
    "fit warnings",
    "convergence code",
    "Model failed to converge",
    "Model is nearly unidentifiable",
    "Some predictor variables",
    "Rescale variables",
    "Warning",
    "unable to evaluate scaled gradient",
    "Hessian is numerically singular",
)


#: A console's prompt: the command typed after it, never R's output.
_PROMPT = re.compile(r"^\s*> (?!##|#>)")  # "> ## ": knitr's output in a Markdown quote


def _commands(text: str) -> frozenset[int]:
    """Indices of the lines that are commands typed at a console's ``> `` prompt: a
    printout ends at the next command, with or without a blank line before it (the
    console prints the next prompt right after an intercept-only summary's fixed effects)."""
    return frozenset(index for index, line in enumerate(text.splitlines()) if _PROMPT.match(line))


def _is_summary_start(line: str) -> bool:
    return line.startswith("Linear mixed model fit by")


#: Titles of lme4's summaries of models that are not linear mixed models (laid out as an
#: lmer's): no block of their own, and none of their lines starts one.
_OTHER_MODELS = ("Generalized linear mixed model fit by", "Nonlinear mixed model fit by")
#: The first line of a summary pasted without its title: what a student copies from
#: (``Random effects:`` and on, the commented output of a script), car's ``S(brief =
#: TRUE)`` of an lmer fit (``Estimates of Fixed Effects:``, with or without KR tests).
_UNTITLED_STARTS = (
    "REML criterion at convergence:",
    "Scaled residuals:",
    "Random effects:",
    "Estimates of Fixed Effects:",
    "Estimates of Fixed Effects with KR Tests",
)


def _untitled_summary(
    lines: list[str], start: int, commands: frozenset[int]
) -> tuple[Summary | None, int]:
    """A summary that starts at ``lines[start]`` without its title, lme4's or nlme's (nlme
    prints ``Formula:`` right under ``Random effects:``), and the index of the line after
    it.  Only the summary of a linear mixed model is one: its fixed effects and its
    residual read; anything else (a ``VarCorr()`` under a heading, a glmer summary's
    tail, which has no residual) is None, to be read as before."""
    following = next(
        (lines[i].strip() for i in range(start + 1, len(lines)) if lines[i].strip()), ""
    )
    if lines[start].strip().startswith("Random effects:") and following.startswith("Formula:"):
        summary, end = _nlme_summary(lines, start, commands, untitled=True)
    else:
        summary, end = _summary(lines, start, commands, untitled=True)
    if not summary.fixed or (summary.residual_sd is None and summary.residual_variance is None):
        return None, end
    return summary, end


def _is_nlme_start(line: str) -> bool:
    return line.startswith("Linear mixed-effects model fit by")


def _block_starts(line: str) -> bool:
    """A line that begins a printout of its own: where the block before it ends."""
    text = line.strip()
    return (
        _is_summary_start(line)
        or _is_nlme_start(line)
        or text == "Models:"
        or text.startswith("ANOVA-like table for random-effects")
        or text.startswith(tuple(start for start, _, _ in _NOT_GRADED))
    )


_NO_REFERENCE = "no reference prints it"
_NOT_F_TESTS_OF_A_FIT = (
    "not F tests of a mixed model's terms as lmerTest, lme4 or afex print them (an lm() "
    "fit's table, a comparison of fits, or afex's likelihood-ratio or bootstrap tests)"
)
_F_TABLE = "anova() of one model (F tests)"
#: Printouts recognised by their first line that are not graded: (start, what, why).
_NOT_GRADED = (
    ("Type III Analysis of Variance Table", _F_TABLE, _NOT_F_TESTS_OF_A_FIT),
    ("Type II Analysis of Variance Table", _F_TABLE, _NOT_F_TESTS_OF_A_FIT),
    ("Type I Analysis of Variance Table", _F_TABLE, _NOT_F_TESTS_OF_A_FIT),
    ("Analysis of Variance Table", _F_TABLE, _NOT_F_TESTS_OF_A_FIT),
    ("Mixed Model Anova Table", "afex mixed()'s F table", _NOT_F_TESTS_OF_A_FIT),
    ("Single term deletions", "drop1()", _NO_REFERENCE),
)
_EMMEANS = (
    "emmeans (estimated marginal means)",
    "they are predictions from a model, not its fit: hand in the model's summary()",
)


def _recognised(text: str) -> tuple[str, str] | None:
    """What an ungraded printout is and why it is not graded, from its first line, outside
    the graded blocks (a summary's random-effects header is VarCorr's too: only a block's
    end lets it start)."""
    for start, what, why in _NOT_GRADED:
        if text.startswith(start):
            return what, why
    tokens = text.split()
    if tokens[:3] == ["Groups", "Name", "Std.Dev."] or tokens[:3] == ["Groups", "Name", "Variance"]:
        return "VarCorr()", _NO_REFERENCE
    if "emmean" in tokens[1:3] or tokens[:3] == ["contrast", "estimate", "SE"]:
        return _EMMEANS
    return None


def parse(text: str) -> Parsed:
    """Find and read every printed block (see the module) of R's mixed-model output."""
    lines = r_tables.lines(text)
    commands = _commands(text)
    parsed = Parsed([], [])
    index = 0
    untitled_from = 0  # where a summary without its title may start (see below)
    while index < len(lines):
        line = lines[index]
        text_ = line.strip()
        if glmmtmb.starts(lines, index):  # lme4's vocabulary, glmmTMB's reader
            index = glmmtmb.end(lines, index)
            continue
        if line.startswith(_OTHER_MODELS):
            # lme4's layout of a model that is not linear (glmer, nlmer): skipped whole, so
            # that its tables are not read as a summary without its title
            index = _summary(lines, index, commands)[1]
            continue
        if _is_summary_start(line):
            summary, index = _summary(lines, index, commands)
            add_block(parsed, summary, "summary()", index)
            continue
        if _is_nlme_start(line):
            summary, index = _nlme_summary(lines, index, commands)
            add_block(parsed, summary, "summary() of lme", index)
            continue
        if index >= untitled_from and text_.startswith(_UNTITLED_STARTS):
            fragment, end = _untitled_summary(lines, index, commands)
            if fragment is not None:
                kind = "summary() of lme" if fragment.program == "nlme" else "summary()"
                add_block(parsed, fragment, kind, end)
                index = end
                continue
            # not a linear mixed model's summary: its lines are read for what else they
            # are, and no summary starts again before its end (each line is read once)
            untitled_from = max(end, index + 1)
        if text_ == "Models:":
            refit = any(
                "refitting model(s) with ML" in lines[i] for i in range(max(0, index - 3), index)
            )
            anova, index = _anova(lines, index, refit)
            add_block(parsed, anova, "anova()", index)
            continue
        if text_.startswith("ANOVA-like table for random-effects"):
            tests, index, unread = _ranova(lines, index)
            parsed.problems += unread
            for test in tests:
                add_block(parsed, test, "ranova()", index)
            continue
        if _named_vector_pair(lines, index) and text_.split()[0] == "(Intercept)":
            coefficients, index = _coefficients(lines, index)
            add_block(parsed, coefficients, "fixef()", index)
            continue
        if _CONFINT_HEADER.fullmatch(text_):
            intervals, index = _intervals(lines, index)
            add_block(parsed, intervals, "confint()", index)
            continue
        if _is_f_table_start(text_):
            table, end = _f_tests(lines, index)
            if table is not None:
                add_block(parsed, table, table.printed_by, end)
                index = end
                continue
        recognised = _recognised(text_)
        if recognised is not None:
            what, why = recognised
            parsed.not_graded.append(f"line {index + 1}: {what}: read, not graded ({why})")
            index = _skip_table(lines, index + 1)
            continue
        index += 1
    return parsed


def _named_vector_pair(lines: list[str], index: int) -> bool:
    """A line of names over a line of as many numbers: a named vector's printed row."""
    if index + 1 >= len(lines):
        return False
    names, values = lines[index].split(), lines[index + 1].split()
    return (
        bool(names)
        and len(names) == len(values)
        and not any(is_number(n) for n in names)
        and all(is_number(v) for v in values)
    )


def _coefficients(lines: list[str], start: int) -> tuple[Coefficients, int]:
    block = Coefficients(line=start + 1)
    index = start
    while _named_vector_pair(lines, index):
        block.names += lines[index].split()
        block.values += [printed(v) for v in lines[index + 1].split()]
        index += 2
    return block, index


_CONFINT_HEADER = re.compile(r"([\d.]+) %\s+([\d.]+) %")
_CONFINT_CALL = re.compile(r"confint\s*\(")
#: lme4's ``confint.merMod(method = "boot")`` default number of simulations.
BOOT_DEFAULT_NSIM = 500
#: Lines looked back from a confint() header for its call and R's message.
_CONFINT_LOOKBACK = 8


def _intervals(lines: list[str], start: int) -> tuple[Intervals, int]:
    """A ``confint()`` matrix and what the lines before it say of its method."""
    header = _CONFINT_HEADER.fullmatch(lines[start].strip())
    assert header is not None
    lower_percent = float(header.group(1))
    block = Intervals(line=start + 1, method="", level=round(1 - 2 * lower_percent / 100, 10))
    before = [lines[i].strip() for i in range(max(0, start - _CONFINT_LOOKBACK), start)]
    call = next((t for t in reversed(before) if _CONFINT_CALL.search(t)), "")
    said = before[before.index(call) :] if call else before
    if any(t.startswith("Computing bootstrap confidence intervals") for t in said):
        block.method = "boot"
    elif any(t.startswith("Computing profile confidence intervals") for t in said):
        block.method = "profile"
    method = re.search(r"method\s*=\s*[\"'](\w+)[\"']", call)
    if method and method.group(1) in ("Wald", "boot", "profile"):
        block.method = method.group(1)
    if block.method == "boot":
        nsim = re.search(r"nsim\s*=\s*(\d+)", call)
        block.nsim = int(nsim.group(1)) if nsim else BOOT_DEFAULT_NSIM
    index = start + 1
    while index < len(lines) and lines[index].strip() and not _block_starts(lines[index]):
        tokens = lines[index].split()
        values = tokens[1:]
        if len(tokens) == 3 and all(v == "NA" or is_number(v) for v in values):
            lower, upper = (None if v == "NA" else printed(v) for v in values)
            block.rows.append(IntervalRow(tokens[0], lower, upper))
        else:
            block.unread.append(f"line {index + 1}: {lines[index].strip()[:80]}")
        index += 1
    if not block.method:
        variances = [r for r in block.rows if r.name.startswith(".")]
        if variances and all(r.lower is None for r in variances):
            block.method = "Wald"
    return block, index


def _skip_table(lines: list[str], index: int) -> int:
    """The line after a recognised table: its first blank line, or the next block."""
    while index < len(lines) and lines[index].strip() and not _block_starts(lines[index]):
        index += 1
    return index


#: Lines that follow a summary's formula: never a continuation of it.
_AFTER_FORMULA = ("Data:", "Control:", "Subset:", "Weights:", "REML criterion", "AIC")


def _unfinished(formula: str) -> bool:
    """A formula cut by R's line wrapping: a parenthesis still open or an operator last."""
    return formula.count("(") > formula.count(")") or formula.rstrip().endswith(
        ("~", "+", "-", "*", "/", ":", "|", "^")
    )


def _summary(
    lines: list[str],
    start: int,
    commands: frozenset[int] = frozenset(),
    untitled: bool = False,
) -> tuple[Summary, int]:
    """lme4's or lmerTest's ``summary()`` from its title at ``lines[start]`` (or from its
    first line, ``untitled``, when pasted without the title), or car's ``S()`` of an lmer
    fit, which prints the fixed effects first and its fit statistics last; the index of
    the line after it."""
    first = lines[start]
    if untitled:
        summary = Summary(line=start + 1, estimation=LME4.default_method)
        summary.notes.append(_untitled_note(LME4))
        index = start
    else:
        summary = Summary(line=start + 1, estimation="REML" if "by REML" in first else "ML")
        summary.df_method = _t_test_method(" ".join(lines[start : start + 2]))
        index = start + 1
        if "blmerMod" in first:  # blme's blmer: lme4's layout under its priors' lines
            summary.program = BLME.name
            summary.notes += _priors(lines, start)
    section = ""
    #: where the fixed effects lead: the printout's end (lme4's last table), or on to the
    #: random effects and the fit statistics (car::S's layout)
    after_fixed = "fixed done"
    header: list[str] = []
    pending: dict[str, dict[str, Printed]] = {}  # term -> its columns read so far
    while index < len(lines):
        line = lines[index]
        text = line.strip()
        tokens = text.split()
        if _block_starts(line) or index in commands:
            break
        if section == "fixed done":
            if text.startswith(_FIXED_CORRELATIONS):
                section = "correlation"
            elif text and not text.startswith(_SUMMARY_TRAILERS):
                break  # the printout has ended: prose, code, a fence, another command
            else:
                _fit_message(summary, text)
            index += 1
            continue
        if section == "correlation":
            # the matrix ends at a blank line, or at the optimizer's messages under it
            if not text:
                section = after_fixed
            elif text.startswith(_FIT_MESSAGES):
                _fit_message(summary, text)
                section = "fixed done"
            index += 1
            continue
        index += 1
        if not text:
            if section == "fixed" and pending:
                finish_fixed(summary, pending, index)
                section = after_fixed
            continue
        if text.startswith("Formula:"):
            summary.formula = text.split(":", 1)[1].strip()
            if not summary.formula and index < len(lines):  # R put it on the next line
                summary.formula = lines[index].strip()
                index += 1
            # R wraps a long formula at the console's width: while it is unfinished (a
            # parenthesis open, an operator last), the next line continues it
            while (
                index < len(lines)
                and _unfinished(summary.formula)
                and lines[index].strip()
                and not lines[index].strip().startswith(_AFTER_FORMULA)
            ):
                summary.formula += " " + lines[index].strip()
                index += 1
        elif text.startswith("REML criterion at convergence:"):
            value = text.split(":", 1)[1].strip()
            if is_number(value):
                summary.reml_criterion = printed(value)
        elif tokens[:2] == ["AIC", "BIC"] and index < len(lines):
            index = _fit_statistics(summary, tokens, lines, index)
        elif tokens == ["logLik", "df", "AIC", "BIC"] and index < len(lines):
            # car::S's last lines: the log (restricted) likelihood, its parameters, AIC, BIC
            index = _fit_statistics(summary, tokens, lines, index)
            log_lik = summary.fit_statistics.get("logLik")
            if log_lik is not None and math.isfinite(log_lik.value):
                criterion_from_loglik(summary, log_lik.text, "car::S", "logLik")
            section = "fixed done"
        elif text.startswith("Scaled residuals:") and index + 1 < len(lines):
            index = _residual_quantiles(summary, lines, index)
        elif text.startswith(("Random effects:", "Estimates of Random Effects")):
            section = "random"
        elif section == "random" and tokens[0] == "Groups":
            header = tokens
        elif text.startswith("Number of obs:"):
            trouble = _observations(summary, text)
            if trouble:
                summary.unread.append(
                    f"line {index}: 'Number of obs' not read ({trouble}): {text[:80]!r}"
                )
            section = "" if section == "random" else section
        elif section == "random":
            trouble = random_row(summary, tokens, header)
            if trouble:
                summary.unread.append(f"line {index}: random effect not read ({trouble}): {text!r}")
        elif text.startswith("Fixed effects:"):
            section = "fixed"
            header = []
        elif text.startswith("Fixed Effects:") and not summary.fixed:
            index = _estimates_only(summary, lines, index)
            section = "fixed done"
        elif text.startswith(_CAR_FIXED):
            section = "fixed"
            header = []
            if after_fixed != "":
                after_fixed = ""
                summary.notes.append(
                    "car::S()'s summary of an lmer fit: the fixed effects first (z or "
                    "Kenward-Roger t tests), the random effects as standard deviations"
                )
        elif section == "fixed" and is_fixed_header(tokens):
            # the first header, or that of the next columns when R splits a table wider
            # than the console: their rows are merged by term
            header = fixed_header(text)
        elif section == "fixed" and header and (text == "---" or text.startswith("Signif.")):
            finish_fixed(summary, pending, index)
            section = after_fixed
        elif section == "fixed" and header and text.startswith(_FIT_MESSAGES):
            # the optimizer's messages right under the table (no correlations printed)
            finish_fixed(summary, pending, index)
            _fit_message(summary, text)
            section = "fixed done"
        elif section == "fixed" and header:
            trouble = fixed_row(pending, tokens, header)
            if trouble:
                summary.unread.append(f"line {index}: fixed effect not read ({trouble}): {text!r}")
        elif text.startswith(_FIXED_CORRELATIONS):
            section = "correlation"
    if pending:
        finish_fixed(summary, pending, index)
    _check_whole(summary, start, untitled)
    return summary, index


def _estimates_only(summary: Summary, lines: list[str], index: int) -> int:
    """``print()`` of an lmer fit: its ``Fixed Effects:`` are a named vector (names over
    values, wrapped at the console's width), estimates without standard errors; the
    index of the line after them."""
    while _named_vector_pair(lines, index):
        names, values = lines[index].split(), lines[index + 1].split()
        summary.fixed += [
            FixedTerm(n, printed(v), None, None) for n, v in zip(names, values, strict=True)
        ]
        index += 2
    summary.notes.append(
        "print() of the fit: the fixed effects' estimates only, no standard errors"
    )
    return index


#: car::S()'s heading of the fixed effects (of an lmer fit, with Kenward-Roger tests or not)
_CAR_FIXED = ("Estimates of Fixed Effects:", "Estimates of Fixed Effects with KR Tests")
#: The heading of the fixed effects' correlations: lme4's, car::S()'s.
_FIXED_CORRELATIONS = ("Correlation of Fixed Effects", "Correlations of Fixed Effects")
#: What lme4 says of its optimizer under a summary: its convergence code and the warnings
#: of its convergence checks.
_FIT_MESSAGES = (
    "optimizer (",
    "convergence code",
    "Model failed to converge",
    "boundary (singular)",
    "Model is nearly unidentifiable",
    "unable to evaluate scaled gradient",
    "Hessian is numerically singular",
    "fit warnings",
    "Some predictor variables",
)
_CONVERGENCE_CODE = re.compile(r"convergence code:?\s*(-?\d+)")


def _fit_message(summary: Summary, text: str) -> None:
    """What lme4 says under a summary of how its optimizer ended, kept with the fit: its
    estimates are graded knowing that it did not converge (``Model failed to converge``, a
    nonzero convergence code) or that it is singular (``boundary (singular) fit``)."""
    said = text[:200]
    if text.startswith("Model failed to converge"):
        summary.converged = False
        summary.notes.append(f"lme4 warned: {said} (the fit did not converge)")
    elif text.startswith("boundary (singular)"):
        summary.notes.append(
            f"lme4 says: {said} (a variance estimated as zero or a correlation as ±1)"
        )
    elif text.startswith(("Model is nearly unidentifiable", "Hessian is numerically singular")):
        summary.notes.append(f"lme4 warned: {said}")
    else:
        code = _CONVERGENCE_CODE.search(text[:200])
        if code is not None and int(code.group(1)) != 0:
            summary.converged = False
            summary.notes.append(f"lme4: {said} (the optimizer did not converge)")


def _untitled_note(program: Program) -> str:
    """What a summary pasted without its title does not say, said on the grade: REML or
    ML, read as the program's default (a fragment that is an ML fit then differs from its
    reference as an ML fit does, which the grade shows)."""
    return (
        "the printout starts without its title line, which says REML or ML: read as "
        f"{program.default_method}, {program.name}'s default"
    )


def _fit_statistics(summary: Summary, names: list[str], lines: list[str], index: int) -> int:
    """``AIC BIC logLik …`` and, on the next line (``index``), their values; the line after."""
    values = lines[index].split()
    if len(values) == len(names) and all(is_number(v) for v in values):
        summary.fit_statistics = {
            name: printed(value) for name, value in zip(names, values, strict=True)
        }
    else:
        summary.unread.append(f"line {index + 1}: fit statistics not read: {lines[index]!r}")
    return index + 1


def _residual_quantiles(summary: Summary, lines: list[str], index: int) -> int:
    """The five quantiles of the scaled (lme4) or standardized (nlme) residuals, two lines
    below their heading (the names' line between); the line after them."""
    values = lines[index + 1].split()
    if len(values) == 5 and all(is_number(v) for v in values):
        summary.scaled_residuals = [printed(v) for v in values]
    return index + 2


def _check_whole(summary: Summary, start: int, untitled: bool = False) -> None:
    """A summary with every table it must have (a criterion under its title: a summary
    pasted without its title is graded on what it holds, its criterion missing)."""
    for table, rows in (("fixed effects", summary.fixed), ("random effects", summary.random)):
        if len(rows) > MAX_TABLE_ROWS[table]:
            summary.unread.append(
                f"line {start + 1}: a {table} table of {len(rows)} rows, more than the "
                f"{MAX_TABLE_ROWS[table]} read"
            )
            summary.fixed, summary.random = [], []
    if summary.reml_criterion is None and not summary.fit_statistics and not untitled:
        summary.unread.append(f"line {start + 1}: summary without a criterion (truncated?)")
    if not summary.fixed:
        summary.unread.append(f"line {start + 1}: summary without fixed effects (truncated?)")


def _observations(summary: Summary, text: str) -> str:
    """Read ``Number of obs: 7185, groups:  id, 160``; what is wrong with it, or ""."""
    match = re.match(r"Number of obs:\s*(\d{1,15}),\s*groups:\s*(.*)$", text)
    if not match:
        return "expected 'Number of obs: N, groups: name, J' with counts of up to 15 digits"
    summary.n_obs = int(match.group(1))
    groups = re.findall(r"([^,;\s]+),\s*(\d+)", match.group(2))
    if not groups or any(len(count) > 15 for _, count in groups):
        return "expected each group's name and a count of up to 15 digits"
    for name, count in groups:
        summary.groups[name] = int(count)
    return ""


# ----- nlme -------------------------------------------------------------------------------------
def _nlme_summary(
    lines: list[str],
    start: int,
    commands: frozenset[int] = frozenset(),
    untitled: bool = False,
) -> tuple[Summary, int]:
    """nlme's ``summary(lme(...))``: standard deviations, ``Value Std.Error DF t-value
    p-value``, AIC/BIC/logLik (the REML criterion is −2·logLik, with logLik's decimals).

    Nested grouping (``~1 | FAMID/MRN``) prints a ``Formula:`` block per level, the inner
    level as ``MRN %in% FAMID``: each level's random effects keep their own group, the
    counts of ``Number of Groups:`` are read by level, and the model rebuilt has a term
    per level.  A fixed-effects table wider than the console is printed in column chunks
    (``Value Std.Error DF`` rows, then ``t-value p-value`` rows), merged by term."""
    summary = Summary(
        line=start + 1,
        estimation="REML" if "by REML" in lines[start] else "ML",
        program="nlme",
    )
    index = start + 1
    if untitled:
        summary.estimation = NLME.default_method
        summary.notes.append(_untitled_note(NLME))
        index = start
    section = ""
    random_formula = fixed_formula = ""
    random_formulas: list[str] = []  # one per level, outermost first
    names: list[str] = []
    column_names: list[str] = []
    columns: list[str] = []  # the fixed-effects columns of the chunk being read
    pending: dict[str, dict[str, Printed]] = {}  # term -> its columns read so far
    while index < len(lines):
        line = lines[index]
        text = line.strip()
        tokens = text.split()
        if _block_starts(line) or index in commands:
            break
        if section == "done" and text:
            break  # after "Number of Groups": the printout has ended
        index += 1
        if not text:
            continue
        if tokens[:3] == ["AIC", "BIC", "logLik"] and index < len(lines):
            index = _fit_statistics(summary, tokens, lines, index)
        elif text.startswith("Random effects:"):
            section = "random"
        elif text.startswith("Fixed effects:"):
            fixed_formula = _written_formula(text.split(":", 1)[1].strip())
            section = "fixed"
        elif text.startswith(_NLME_RESIDUAL_STRUCTURES):
            # the residuals' own correlation or variance model (corAR1, varIdent): the
            # printed residual SD is not the one residual variance a reference has
            summary.unread.append(
                f"line {index}: {text[:80]!r}: a model of the residuals' correlation or "
                "variance, not read"
            )
            section = "structure"
        elif text.startswith("Correlation"):
            section = "correlation"  # of the fixed effects: not graded
        elif text.startswith("Standardized Within-Group Residuals") and index + 1 < len(lines):
            index = _residual_quantiles(summary, lines, index)
            section = ""
        elif text.startswith("Number of Observations:"):
            count = text.split(":", 1)[1].strip()
            if count.isdigit() and len(count) <= 15:
                summary.n_obs = int(count)
        elif text.startswith("Number of Groups:"):
            count = text.split(":", 1)[1].strip()
            if count:
                group = _group(random_formula)
                if count.isdigit() and len(count) <= 15:
                    summary.groups[group] = int(count)
            else:  # one count per level, under the levels' names
                index = _nlme_groups(summary, lines, index)
            section = "done"
        elif section in ("random done", "structure"):
            # after the residual, the random part's table is whole: what comes before the
            # fixed effects is a remark (a commented printout's script around it)
            continue
        elif section == "random" and text.startswith("Formula:"):
            random_formula = text.split(":", 1)[1].strip()
            random_formulas.append(random_formula)
            names = []  # a level's correlations are with its own terms
        elif section == "random" and tokens[0] == "StdDev:" and column_names:
            # the transposed layout of a diagonal or one-term random part: the names on
            # one line, "StdDev:" and a standard deviation under each on the next
            trouble = _nlme_random_columns(summary, column_names, tokens[1:], random_formula)
            column_names = []
            if trouble:
                summary.unread.append(f"line {index}: random effect not read ({trouble}): {text!r}")
            if summary.residual_sd is not None:  # nlme prints the residual last
                section = "random done"
        elif section == "random" and (text.startswith("Structure:") or tokens[0] == "StdDev"):
            continue
        elif section == "random" and not any(is_number(token) for token in tokens):
            column_names = tokens
        elif section == "random":
            trouble = _nlme_random_row(summary, tokens, names, random_formula)
            if trouble:
                summary.unread.append(f"line {index}: random effect not read ({trouble}): {text!r}")
            if summary.residual_sd is not None:  # nlme prints the residual last
                section = "random done"
        elif section == "fixed" and all(token in _NLME_FIXED_COLUMNS for token in tokens):
            # the header, or that of the next columns when R splits the table at the
            # console's width: their rows are merged by term
            columns = [_NLME_FIXED_COLUMNS[token] for token in tokens]
        elif section == "fixed":
            # without a header (not pasted), the whole table's columns
            trouble = fixed_row(pending, tokens, columns or [*_NLME_FIXED_COLUMNS.values()])
            if trouble:
                summary.unread.append(f"line {index}: fixed effect not read ({trouble}): {text!r}")
    finish_fixed(summary, pending, index)
    if fixed_formula and random_formulas:
        summary.formula = " + ".join([fixed_formula, *map(_lme4_bar, random_formulas)])
    log_lik = summary.fit_statistics.get("logLik")
    if summary.estimation == "REML" and log_lik is not None and math.isfinite(log_lik.value):
        decimals = log_lik.decimals or 0
        summary.reml_criterion = Printed(-2 * log_lik.value, f"{-2 * log_lik.value:.{decimals}f}")
        summary.notes.append(
            f"REML criterion {summary.reml_criterion.text} is −2 × the printed logLik "
            f"{log_lik.text} (nlme prints no criterion)"
        )
    _check_whole(summary, start, untitled)
    return summary, index


#: nlme's fixed-effects columns and the neutral form's name of each.
_NLME_FIXED_COLUMNS = {
    "Value": "estimate",
    "Std.Error": "std_error",
    "DF": "df",
    "t-value": "t_value",
    "p-value": "p_value",
}
#: nlme's word for nesting in a level's name (``MRN %in% FAMID``).
_IN = "%in%"
#: Headings of the residuals' own correlation and variance models in nlme's summary.
_NLME_RESIDUAL_STRUCTURES = ("Correlation Structure:", "Variance function:")
#: A fixed formula written as a string in the call (``as.formula("y ~ x")``), as nlme
#: prints the call's argument.
_FORMULA_CALL = re.compile(r"^(?:stats::)?(?:as\.)?formula\(\s*[\"']([^\"']*)[\"']\s*\)$")


def _written_formula(text: str) -> str:
    """The fixed formula nlme printed, the formula itself when the call built it from a
    string (``as.formula("SX_HI ~ age_at_scan + sex")``)."""
    called = _FORMULA_CALL.match(text)
    return called.group(1).strip() if called else text


def _group(formula: str) -> str:
    """The grouping factor of one level's random formula (``~1 | MRN %in% FAMID``)."""
    return formula.split("|")[-1].strip() or "group"


def _lme4_bar(formula: str) -> str:
    """One level's nlme random formula as lme4's term: ``~cses | school`` is ``(cses |
    school)``, and an inner level ``~x | ID %in% Country`` is ``(x | Country:ID)`` (lme4
    reads ``%in%`` in a grouping factor as R's matching operator)."""
    if _IN not in formula or "|" not in formula:
        return f"({formula.lstrip('~').strip()})"
    effects = formula.split("|")[0].lstrip("~").strip()
    levels = [level.strip() for level in _group(formula).split(_IN)]
    return f"({effects} | {':'.join(reversed(levels))})"


def _nlme_groups(summary: Summary, lines: list[str], index: int) -> int:
    """``Number of Groups:`` of nested levels: the levels' names on a line (``FAMID MRN
    %in% FAMID``, a name holding ``%in%`` is one level) over their counts (``205 288``),
    wrapped at the console's width into several such pairs; the index of the line after
    them.  A pair whose names and counts do not line up is a row not read."""
    while index + 1 < len(lines):
        tokens, counts = lines[index].split(), lines[index + 1].split()
        if (
            not tokens
            or any(is_number(token) for token in tokens)
            or not counts
            or not all(count.isdigit() for count in counts)
        ):
            break  # no names over counts: the table has ended
        levels: list[str] = []
        for position, token in enumerate(tokens):
            if levels and _IN in (token, tokens[position - 1]):
                levels[-1] += " " + token
            else:
                levels.append(token)
        if len(levels) != len(counts) or any(len(count) > 15 for count in counts):
            summary.unread.append(
                f"line {index + 1}: 'Number of Groups' not read (expected a count of up to "
                f"15 digits under each level): {lines[index].strip()[:80]!r}"
            )
            return index + 2
        for level, count in zip(levels, counts, strict=True):
            summary.groups[level] = int(count)
        index += 2
    return index


def _nlme_random_row(summary: Summary, tokens: list[str], names: list[str], formula: str) -> str:
    """``(Intercept) 2.9463489 (Intr)``, ``ses_c 0.8330601 0.019``, ``Residual 6.0580690``:
    a name, its SD, and its correlations with the terms above it."""
    if len(tokens) < 2 or not is_number(tokens[1]):
        return "expected a name and a standard deviation"
    name, sd = tokens[0], printed(tokens[1])
    rest = [t for t in tokens[2:] if t != "(Intr)" and not t.startswith("(")]
    if not all(is_number(t) for t in rest):
        # the header of the correlation column names the terms: (Intr), or abbreviations
        if not names:
            rest = []
        else:
            return "expected correlations"
    if name == "Residual":
        summary.residual_sd = sd
        return ""
    group = _group(formula)
    names.append(name)
    summary.random.append(RandomTerm(group, name, None, sd, [printed(t) for t in rest]))
    return ""


def _nlme_random_columns(
    summary: Summary, names: list[str], values: list[str], formula: str
) -> str:
    """``(Intercept) Residual`` over ``StdDev: 2.934966 6.256862``: a standard deviation
    under each name, no correlations (nlme's layout for one random term or a pdDiag)."""
    if len(values) != len(names) or not all(is_number(value) for value in values):
        return f"expected {len(names)} standard deviations under {' '.join(names)}"
    group = _group(formula)
    for name, value in zip(names, values, strict=True):
        if name == "Residual":
            summary.residual_sd = printed(value)
        else:
            summary.random.append(RandomTerm(group, name, None, printed(value)))
    return ""


# ----- anova() and ranova() ----------------------------------------------------------------------
_ANOVA_COLUMNS = {"-2*log(L)": "deviance"}


def _anova(lines: list[str], start: int, refit: bool) -> tuple[Anova, int]:
    anova = Anova(line=start + 1, refitted_by_ml=refit)
    index = start + 1
    header: list[str] = []
    while index < len(lines):
        text = lines[index].strip()
        tokens = text.split()
        if _block_starts(lines[index]):
            break
        if header and anova.rows and (not text or text == "---" or text.startswith("Signif.")):
            break  # the table has ended
        if header and not _is_row(tokens):
            break  # a line after the table that is no row of it (prose, code, a fence)
        index += 1
        if not text:
            continue
        if not header and tokens[0] == "npar":
            header = [_ANOVA_COLUMNS.get(t, t) for t in tokens]
        elif not header and ":" in text:
            name, formula = text.split(":", 1)
            anova.formulas[name.strip()] = formula.strip()
        elif header:
            trouble = _anova_row(anova, tokens, header)
            if trouble:
                anova.unread.append(f"line {index}: anova row not read ({trouble}): {text!r}")
    if len(anova.rows) > MAX_TABLE_ROWS["anova"]:
        anova.unread.append(
            f"line {start + 1}: an anova() table of {len(anova.rows)} rows, more than the "
            f"{MAX_TABLE_ROWS['anova']} read"
        )
        anova.rows = []
    elif not anova.rows:
        anova.unread.append(f"line {start + 1}: anova table without rows (truncated?)")
    return anova, index


#: lmerTest's and lme4's F tables' headings: lmerTest 3 ("Type III Analysis of Variance
#: Table with Satterthwaite's method"), lmerTest 2 ("Analysis of Variance Table of type III
#: with Satterthwaite"), lme4's own ("Analysis of Variance Table") and afex's ("Mixed Model
#: Anova Table (Type 3 tests, KR-method)").
_F_HEADING = re.compile(
    r"(?:Type (?P<roman>I{1,3}) Analysis of Variance Table"
    r"(?: with (?P<method>Satterthwaite|Kenward-Roger)['’]s method)?"
    r"|Analysis of Variance Table of type (?P<type2>I{1,3}|[123])\s+with\s+"
    r"(?P<method2>Satterthwaite|Kenward-Roger)"
    r"|Analysis of Variance Table"
    r"|Mixed Model Anova Table \(Type (?P<afex_type>[123]) tests, (?P<afex_method>\w+)-method\))"
    r"\s*$"
)
_METHODS = {
    "Satterthwaite": "satterthwaite",
    "Kenward-Roger": "kenward_roger",
    "S": "satterthwaite",
    "KR": "kenward_roger",
}
_ROMAN = {"1": "I", "2": "II", "3": "III", "I": "I", "II": "II", "III": "III"}
#: The F tables' column headings and the quantity ids' names of them (lme4's ``npar``, an
#: older lme4's ``Df``, lmerTest 2's ``F.value``).
_F_HEADINGS = (
    ("Sum Sq", "sum_sq"),
    ("Mean Sq", "mean_sq"),
    ("NumDF", "num_df"),
    ("DenDF", "den_df"),
    ("F value", "F"),
    ("F.value", "F"),
    ("Pr(>F)", "p"),
    ("npar", "num_df"),
    ("Df", "num_df"),
)
#: What each kind of table prints, in its order.
_F_LAYOUTS = {
    "lmerTest": F_COLUMNS,
    "lme4": ("num_df", "sum_sq", "mean_sq", "F"),
}


def _is_f_table_start(text: str) -> bool:
    return text.startswith(("Type I", "Analysis of Variance Table", "Mixed Model Anova Table"))


def _t_test_method(title: str) -> str:
    """The t tests' df method lmerTest's summary title names (its title may wrap)."""
    if "Kenward-Roger" in title:
        return "kenward_roger"
    if "Satterthwaite" in title:
        return "satterthwaite"
    return ""


def _f_header(text: str) -> list[str]:
    found = []
    rest = text
    for heading, column in _F_HEADINGS:
        at = rest.find(heading)
        if at >= 0 and (heading != "Df" or rest.split().count("Df")):
            found.append((at, column))
            rest = rest[:at] + " " * len(heading) + rest[at + len(heading) :]
    leftover = rest.split()
    return [column for _, column in sorted(found)] if not leftover else []


def _f_tests(lines: list[str], start: int) -> tuple[FTests | None, int]:
    """A table of F tests of one fit's terms from its heading at ``lines[start]`` (see
    :data:`_F_HEADING`); None (and where reading stopped) for what is not one: an lm()
    fit's ``Analysis of Variance Table`` (a ``Response:`` line, a ``Residuals`` row),
    afex's likelihood-ratio or bootstrap tables, an ``anova()`` of several fits."""
    heading = _F_HEADING.match(lines[start].strip())
    if heading is None:
        return None, start
    if heading.group("afex_type"):
        return _afex_f_tests(lines, start, heading)
    roman = heading.group("roman") or heading.group("type2")
    method = heading.group("method") or heading.group("method2")
    if roman and not method:
        return None, start  # lmerTest's table of an lm() fit, or a method it does not name
    table = FTests(
        line=start + 1,
        type=_ROMAN[roman] if roman else "I",
        method=_METHODS[method] if method else "lme4",
        printed_by="lmerTest's anova()" if method else "lme4's anova() of one fit",
    )
    layout = _F_LAYOUTS["lmerTest" if method else "lme4"]
    index = start + 1
    header: list[str] = []
    pending: dict[str, dict[str, Printed]] = {}
    order: list[str] = []
    while index < len(lines):
        text = lines[index].strip()
        tokens = text.split()
        if index > start + 1 and _block_starts(lines[index]):
            break
        if not text:
            if pending and set(layout) <= {c for cells in pending.values() for c in cells}:
                break  # every column read: the table has ended
            index += 1
            continue
        if text.startswith(("approximation for degrees", "Response:", "Model 1:")):
            if not text.startswith("approximation"):
                return None, start  # an lm() fit's anova, or a comparison of fits
            index += 1
            continue
        if text == "---" or text.startswith("Signif.") or text.startswith("0 ‘***’"):
            index += 1
            if pending:
                break
            continue
        if tokens[:2] == ["Res.Df", "RSS"]:
            return None, start  # anova(lm1, lm2)'s table
        columns = _f_header(text)
        if columns:
            header = columns
            index += 1
            continue
        if not header or not _is_row(tokens):
            break  # prose, code, a fence after the table
        index += 1
        split = _values_start(tokens)  # a term may have spaces: scale(x, scale = TRUE)
        name = " ".join(tokens[:split])
        if name == "Residuals":
            return None, start
        values, bound = split_bound(tokens[split:])
        if len(values) != len(header) or not all(is_number(v) for v in values):
            table.unread.append(
                f"line {index}: F test not read (expected a term and {len(header)} numbers): "
                f"{text[:80]!r}"
            )
            continue
        if name not in order and len(order) >= MAX_TABLE_ROWS["anova"]:
            table.unread.append(
                f"line {start + 1}: an F table of more than {MAX_TABLE_ROWS['anova']} rows"
            )
            break
        cells = pending.setdefault(name, {})
        if name not in order:
            order.append(name)
        for column, value in zip(header, values, strict=True):
            cells[column] = printed(value)
        if bound:
            cells[header[-1]] = printed(values[-1], bound)
    table.rows = [FTestRow(name, pending[name]) for name in order]
    missing = [c for c in layout if any(c not in row.values for row in table.rows)]
    if not table.rows:
        table.unread.append(f"line {start + 1}: F table without rows (truncated?)")
    elif missing:
        table.unread.append(f"line {start + 1}: F table without its {', '.join(missing)} column(s)")
    return table, index


#: afex's ``nice()`` row (how ``mixed()`` prints): its number, the effect, "NumDF, DenDF",
#: F (stars after it) and the p-value as afex formats it ("<.001", ".006").  Each part is
#: a number of one shape, so no line can make the pattern backtrack.
_AFEX_NUMBER = r"\d+(?:\.\d+)?(?:e[-+]?\d+)?|\.\d+"
_AFEX_ROW = re.compile(
    rf"\d+\s+(?P<term>\S+)\s+(?P<num>{_AFEX_NUMBER}),\s*(?P<den>{_AFEX_NUMBER})\s+"
    rf"(?P<F>{_AFEX_NUMBER})(?:\s*[*+.]{{1,3}})?\s+(?P<p><?\s*(?:{_AFEX_NUMBER}))"
)
#: Longest afex row read: a row of its table is a term and four short numbers.
_AFEX_ROW_LENGTH = 300
#: Lines between afex's heading and its table.
_AFEX_PREAMBLE = ("Model:", "Data:", "Df full model:")


def _afex_f_tests(
    lines: list[str], start: int, heading: re.Match[str]
) -> tuple[FTests | None, int]:
    """afex's ``mixed()`` table: lmerTest's type III (or II) F tests (afex sets sum-to-zero
    contrasts, which type III tests do not depend on) by Satterthwaite's ("S") or
    Kenward-Roger's ("KR") method, as ``nice()`` prints it (``Effect df F p.value``) or as
    ``anova()`` of the object does (``num Df den Df F Pr(>F)``).  Its LRT and PB tables are
    likelihood-ratio tests of refitted models: not F tests (None)."""
    method = _METHODS.get(heading.group("afex_method"))
    if method is None:
        return None, start
    table = FTests(
        line=start + 1,
        type=_ROMAN[heading.group("afex_type")],
        method=method,
        printed_by="afex's mixed()",
    )
    index = start + 1
    layout = ""
    in_model = False  # afex wraps a long model formula over several lines
    while index < len(lines):
        text = lines[index].strip()
        if index > start + 1 and _block_starts(lines[index]):
            break
        tokens = text.split()
        if not layout:
            if tokens[:4] == ["Effect", "df", "F", "p.value"]:
                layout = "nice"
            elif tokens[:5] == ["num", "Df", "den", "Df", "F"]:
                layout = "anova"
            elif text.startswith(_AFEX_PREAMBLE):
                in_model = text.startswith("Model:")
            elif text and not in_model:
                return None, start  # not afex's table after all: read for what it is
            index += 1
            continue
        if not text or text == "---" or text.startswith("Signif."):
            break
        index += 1
        if len(table.rows) >= MAX_TABLE_ROWS["anova"]:
            table.unread.append(
                f"line {start + 1}: an F table of more than {MAX_TABLE_ROWS['anova']} rows"
            )
            break
        trouble = (
            _afex_nice_row(table, text) if layout == "nice" else _afex_anova_row(table, tokens)
        )
        if trouble:
            table.unread.append(f"line {index}: afex F test not read: {text[:80]!r}")
    if not table.rows and not table.unread:
        table.unread.append(f"line {start + 1}: afex F table without rows (truncated?)")
    return table, index


def _afex_nice_row(table: FTests, text: str) -> str:
    row = _AFEX_ROW.fullmatch(text) if len(text) <= _AFEX_ROW_LENGTH else None
    if row is None:
        return "expected a number, a term, 'NumDF, DenDF', F and p"
    p_text = row.group("p").replace(" ", "")
    bound = "<" if p_text.startswith("<") else ""
    cells = {
        "num_df": printed(row.group("num")),
        "den_df": printed(row.group("den")),
        "F": printed(row.group("F")),
        "p": printed(p_text.lstrip("<"), bound),
    }
    table.rows.append(FTestRow(row.group("term"), cells))
    return ""


def _afex_anova_row(table: FTests, tokens: list[str]) -> str:
    split = _values_start(tokens)
    values, bound = split_bound(tokens[split:])
    if split != 1 or len(values) != 4 or not all(is_number(v) for v in values):
        return "expected a term and num Df, den Df, F, Pr(>F)"
    cells = dict(zip(("num_df", "den_df", "F", "p"), map(printed, values), strict=True))
    if bound:
        cells["p"] = printed(values[-1], bound)
    table.rows.append(FTestRow(tokens[0], cells))
    return ""


def _is_row(tokens: list[str]) -> bool:
    """A table row: a name and then numbers (a bound or stars at the end)."""
    values, _ = split_bound(tokens[1:])
    return bool(values) and any(is_number(v) for v in values)


def _anova_row(anova: Anova, tokens: list[str], header: list[str]) -> str:
    name = tokens[0]
    values, bound = split_bound(tokens[1:])
    if not values or len(values) > len(header) or not all(is_number(v) for v in values):
        return f"expected a model name and up to {len(header)} numbers"
    row = {column: printed(value) for column, value in zip(header, values, strict=False)}
    if bound:
        row[header[len(values) - 1]] = printed(values[-1], bound)
    anova.rows.append(AnovaRow(name, row))
    return ""


def _is_value(token: str) -> bool:
    """A number, a bound ("<", "<2e-16") or significance stars: a table cell."""
    return (
        is_number(token)
        or token in STARS
        or token == "<"
        or (token.startswith("<") and is_number(token[1:]))
    )


def _values_start(tokens: list[str]) -> int:
    """Where a row's cells begin: its name may have spaces ("x in (x | g)")."""
    split = len(tokens)
    while split > 1 and _is_value(tokens[split - 1]):
        split -= 1
    return split


#: The columns of lmerTest's ranova() table.
_RANOVA_COLUMNS = frozenset({"npar", "logLik", "AIC", "LRT", "Df", "Pr(>Chisq)"})


def _ranova(lines: list[str], start: int) -> tuple[list[Anova], int, list[str]]:
    """lmerTest's ``ranova()``: ``<none>`` (the model) and one row per deleted random term
    (``npar logLik AIC LRT Df Pr(>Chisq)``).  Each deletion is a likelihood-ratio test on
    the REML criterion, as ``anova(reduced, full, refit = FALSE)``: read as a two-row
    table, the reduced model first, the test's columns on the full model's row."""
    index = start + 1
    formula = ""
    header: list[str] = []
    rows: list[tuple[str, dict[str, Printed]]] = []
    unread: list[str] = []
    while index < len(lines):
        text = lines[index].strip()
        tokens = text.split()
        if _block_starts(lines[index]):
            break
        if header and rows and (not text or text == "---" or text.startswith("Signif.")):
            break
        index += 1
        if not text or text == "Model:":
            continue
        if not header and "~" in text:
            formula = text
        elif all(token in _RANOVA_COLUMNS for token in tokens):
            # the header, or that of the next columns when R splits the table at a
            # narrow console's width: their rows are merged by name
            header = tokens
        elif header:
            split = _values_start(tokens)
            values, bound = split_bound(tokens[split:])
            name = " ".join(tokens[:split])
            # <none> has nothing under the test's columns: its row there is its name alone
            if (
                not name
                or not all(is_number(v) for v in values)
                or (not values and name != "<none>")
                or len(values) > len(header)
            ):
                unread.append(f"line {index}: ranova row not read: {text!r}")
                continue
            row = next((cells for row_name, cells in rows if row_name == name), None)
            if row is None:
                row = {}
                rows.append((name, row))
            row.update({c: printed(v) for c, v in zip(header, values, strict=False)})
            if bound:
                row[header[len(values) - 1]] = printed(values[-1], bound)
    full = next((cells for name, cells in rows if name == "<none>"), None)
    tests = []
    for name, cells in rows:
        if name == "<none>" or full is None:
            continue
        test = Anova(line=start + 1, refitted_by_ml=False, kind="ranova")
        test.formulas = {"<none>": formula}
        reduced = {k: v for k, v in cells.items() if k in ("npar", "logLik", "AIC")}
        columns = {"LRT": "Chisq", "Df": "Df", "Pr(>Chisq)": "Pr(>Chisq)"}
        model = dict(full) | {columns[k]: v for k, v in cells.items() if k in columns}
        test.rows = [AnovaRow(name, reduced), AnovaRow("<none>", model)]
        tests.append(test)
    if not tests:
        unread.append(f"line {start + 1}: ranova() table without a deleted term (truncated?)")
    return tests, index, unread


LME4 = Program(
    name="lme4",
    title="R lme4 / lmerTest",
    prints="variances and SDs",
    default_method="REML",
    printed_units={"random.corr.*": 0.01},
    # print.summary.merMod prints the scaled residuals at max(3, getOption("digits") - 3)
    # significant digits: 3 under options(digits = 3) to 6
    row_digits={"scaled_residuals.*": 3},
    tolerance=TEST_TOLERANCE,
)


BLME = Program(
    name="blme",
    block_label="summary() of blmer",
    title="R blme (blmer)",
    prints="variances and SDs",
    default_method="REML",
    printed_units={"random.corr.*": 0.01},
    row_digits={"scaled_residuals.*": 3},
    penalised=True,
)

#: blme's lines above its summary's title: the priors, and the prior's deviance.
_PRIOR_LINES = ("Cov prior", "Fixef prior", "Resid prior")
#: Lines looked back from a blmer summary's title for its priors.
_PRIOR_LOOKBACK = 6


def _priors(lines: list[str], start: int) -> list[str]:
    """blme's priors, as printed above the summary (``Cov prior  : school ~ wishart(...)``)."""
    found = []
    for line in lines[max(0, start - _PRIOR_LOOKBACK) : start]:
        text = line.strip()
        if text.startswith(_PRIOR_LINES):
            key, _, value = text.partition(":")
            found.append(f"blme's {key.strip().lower()}: {' '.join(value.split())[:200]}")
    return found or ["blme's blmer: a fit with priors (not printed here)"]


NLME = Program(
    name="nlme",
    block_label="summary() of lme",
    title="R nlme",
    prints="SDs",
    default_method="REML",
    never_prints=("random.*.variance", "residual.variance"),
    printed_units={"random.corr.*": 0.001},
)


READER = Reader(
    name="R output",
    programs=(
        LME4,
        NLME,
        BLME,
    ),
    recognises=lambda text: True,
    parse=parse,
    order=10,
)

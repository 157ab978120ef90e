"""glmmTMB's printed ``summary()`` of a gaussian fit read into the neutral form
(:mod:`.printout`).

glmmTMB (1.x) prints a linear mixed model with lme4's vocabulary but its own layout,
with or without knitr's ``## ``, reprex's ``#> `` or the console's ``> `` prefixes::

     Family: gaussian  ( identity )
    Formula:          y ~ x + (1 | g)
    Data: d

         AIC      BIC   logLik deviance df.resid
      1917.0   1995.3   -940.5   1881.0      556

    Random effects:

    Conditional model:
     Groups   Name        Variance Std.Dev.
     g        (Intercept) 0.3312   0.5755
     Residual             1.4068   1.1861
    Number of obs: 574, groups:  g, 36

    Dispersion estimate for gaussian family (sigma^2): 1.41

    Conditional model:
                Estimate Std. Error z value Pr(>|z|)
    (Intercept)  -1.6738     0.2197  -7.618 2.58e-14 ***

Read into a :class:`~.printout.Summary` of the program ``glmmTMB``:

- the formula as printed (glmmTMB writes lme4's syntax; a long one wrapped onto the next
  lines, or put on the line after ``Formula:``, is read whole);
- the estimation: glmmTMB fits by ML unless told ``REML = TRUE`` and its summary does not
  say which, so a fit is ML unless its printout has lme4's ``REML criterion at
  convergence`` line or the call pasted just before it asks for REML; recent versions
  name the deviance column ``-2*log(L)``: both are the ML criterion (lme4's
  ``deviance``), or the REML criterion of a REML fit;
- the random effects (variances, SDs, correlations) and the ``Residual`` row, as lme4's;
  glmmTMB's ``Dispersion estimate ... (sigma^2)`` repeats the residual variance at three
  significant digits: kept as printed (``fit_statistics["sigma^2"]``), the residual is
  the table's row;
- the fixed effects (``Estimate``, ``Std. Error``, ``z value``, ``Pr(>|z|)``, or ``t
  value`` and ``ddf`` when asked for), merged by term when a narrow console splits the
  table's columns;
- glmmTMB's warning ``Model convergence problem; ...`` (a non-positive-definite Hessian,
  false convergence), printed after the call that fitted the model or after a summary of
  a call: the fit is read as not converged (:attr:`Summary.converged`), with the warning
  as a note.

A fit that is not a linear mixed model (another family or link, a zero-inflation or
dispersion model) is recognised and listed as read and not graded.  glmmTMB's lines that
look like lme4's (the random-effects table, ``Number of obs``) belong to this reader: the
lme4 reader skips a glmmTMB summary (:func:`starts`, :func:`end`).
"""

from __future__ import annotations

import re

from hlmrep.grading.printout import (
    Parsed,
    Printed,
    Program,
    Reader,
    Summary,
    add_block,
    is_number,
    printed,
)
from hlmrep.grading.readers import r_tables
from hlmrep.grading.readers.r_tables import (
    finish_fixed,
    fixed_header,
    fixed_row,
    is_fixed_header,
    random_row,
)

#: The call's lines glmmTMB prints after the formula (``.prt.call.glmmTMB``).
_CALL_KEYS = ("Zero inflation:", "Dispersion:", "Data:", "Weights:", "Offset:")
#: Parts of the call that make the fit more than a linear mixed model.
_NOT_LMM_KEYS = ("Zero inflation:", "Dispersion:")
#: The part of a glmmTMB model a table belongs to (``Conditional model:``, …).
_PART = re.compile(r"^(Conditional|Zero-inflation|Dispersion) model:$")
_REML_CALL = re.compile(r"\bREML\s*=\s*(?:TRUE|T)\b")
#: Lines after a summary's last table that still belong to its printout.
_TRAILERS = ("---", "Signif. codes", "0 ‘***’", "0 '***'", "Priors:")
_WARNING = "Model convergence problem"
#: Lines looked back from a summary for the warning of the call that fitted it.
_LOOKBACK = 10


def starts(lines: list[str], index: int) -> bool:
    """A glmmTMB summary begins at ``lines[index]`` (prefixes removed): its ``Family:``
    line, with ``Formula:`` next, and not under lme4's title (``glmer``'s summary prints
    a ``Family:`` line too, after ``Generalized linear mixed model fit by``)."""
    if not lines[index].strip().startswith("Family:"):
        return False
    if index + 1 >= len(lines) or not lines[index + 1].strip().startswith("Formula:"):
        return False
    before = [line for line in lines[max(0, index - 3) : index] if line.strip()]
    return not any("fit by" in line or "glmerMod" in line for line in before[-2:])


def recognises(text: str) -> bool:
    return "Family:" in text and "Formula:" in text


def parse(text: str) -> Parsed:
    """Every glmmTMB summary in ``text`` (see the module)."""
    lines = r_tables.lines(text)
    parsed = Parsed([], [])
    index = previous_end = 0
    while index < len(lines):
        if not starts(lines, index):
            index += 1
            continue
        summary, after, not_lmm = _summary(lines, index)
        _call_and_warnings(summary, lines, max(previous_end, index - _LOOKBACK), after)
        previous_end = index = after
        if not_lmm:
            parsed.not_graded.append(
                f"line {summary.line}: glmmTMB summary of {not_lmm}: read, not graded "
                "(not a linear mixed model)"
            )
            continue
        add_block(parsed, summary, "glmmTMB summary")
    return parsed


def end(lines: list[str], start: int) -> int:
    """The index of the line after the glmmTMB summary that starts at ``start``."""
    return _summary(lines, start)[1]


def _summary(lines: list[str], start: int) -> tuple[Summary, int, str]:
    """The summary, the index of the line after it, and what makes it no linear mixed
    model ("" when it is one)."""
    summary = Summary(line=start + 1, estimation="ML", program="glmmTMB")
    family = lines[start].strip().removeprefix("Family:").strip()
    name, _, link = family.partition("(")
    not_lmm = ""
    if (name.strip(), link.removesuffix(")").strip()) != ("gaussian", "identity"):
        not_lmm = f"a {' '.join(family.split())} fit"
    index = start + 1
    section = "call"  # call, formula, fit, random, groups, fixed, done
    part = "Conditional"  # the model part of the table read: "Zero-inflation", …
    formula: list[str] = []
    header: list[str] = []
    pending: dict[str, dict[str, Printed]] = {}  # term -> its columns read so far
    while index < len(lines):
        text = lines[index].strip()
        tokens = text.split()
        if index > start and (starts(lines, index) or text.startswith("Linear mixed model")):
            break
        named = _PART.match(text)
        if section == "done":
            if named and _next_text(lines, index + 1).startswith("Estimate"):
                part, section, header = named.group(1), "fixed", []  # the next part's table
            elif text and not text.startswith(_TRAILERS):
                break  # the printout has ended: prose, code, a fence, another command
            index += 1
            continue
        index += 1
        if not text:
            if section == "fixed" and header:
                section = "done"
            elif section in ("formula", "groups"):
                section = "call" if section == "formula" else "random"
            continue
        if section in ("call", "formula") and text.startswith("Formula:"):
            formula = [text.removeprefix("Formula:").strip()]
            section = "formula"
        elif section in ("call", "formula") and text.startswith(_CALL_KEYS):
            if text.startswith(_NOT_LMM_KEYS) and not not_lmm:
                key, _, value = text.partition(":")
                not_lmm = f"a model with a {key.lower()} formula ({' '.join(value.split())})"
            section = "call"
        elif section == "formula":
            formula.append(text)  # R wraps a long formula onto the next lines
        elif tokens[0] == "AIC" and "logLik" in tokens and index < len(lines):
            index = _fit_statistics(summary, tokens, lines, index)
            section = "fit"
        elif text.startswith("REML criterion at convergence:"):
            value = text.split(":", 1)[1].strip()
            summary.estimation = "REML"
            if is_number(value):
                summary.reml_criterion = printed(value)
            else:
                summary.unread.append(f"line {index}: REML criterion not read: {text!r}")
        elif text == "Random effects:":
            section = "random"
        elif named:
            part = named.group(1)
            fixed = _next_text(lines, index).startswith("Estimate")
            section, header = ("fixed" if fixed else "random"), []
            if part != "Conditional" and not not_lmm:
                not_lmm = f"a model with a {part.lower()} part"
        elif text.startswith("Dispersion estimate for") and is_number(tokens[-1]):
            summary.fit_statistics["sigma^2"] = printed(tokens[-1])
        elif text.startswith("Dispersion parameter for") and not not_lmm:
            not_lmm = "a fit with a dispersion parameter"
        elif section in ("random", "groups") and text.startswith("Number of obs:"):
            section = _observations(summary, text, index)
        elif section == "groups":
            _groups(summary, text, index)
        elif section == "random" and tokens[:2] == ["Groups", "Name"]:
            header = tokens
        elif section == "random" and part == "Conditional":
            trouble = random_row(summary, tokens, header)
            if trouble:
                summary.unread.append(f"line {index}: random effect not read ({trouble}): {text!r}")
        elif section == "fixed" and is_fixed_header(tokens):
            # the first header, or that of the next columns when R splits a table wider
            # than the console: their rows are merged by term
            header = fixed_header(text)
        elif section == "fixed" and header and text.startswith(_TRAILERS):
            section = "done"
        elif section == "fixed" and header and part == "Conditional":
            trouble = fixed_row(pending, tokens, header)
            if trouble:
                summary.unread.append(f"line {index}: fixed effect not read ({trouble}): {text!r}")
        elif section in ("random", "fixed") and part != "Conditional":
            continue  # a zero-inflation or dispersion model's table: not graded
        else:
            summary.unread.append(f"line {index}: line not read: {text[:80]!r}")
    summary.formula = " ".join(piece for piece in formula if piece)
    finish_fixed(summary, pending, index)
    if not summary.fixed:
        summary.unread.append(f"line {summary.line}: summary without fixed effects (truncated?)")
    if summary.reml_criterion is None and not summary.fit_statistics:
        summary.unread.append(f"line {start + 1}: summary without a criterion (truncated?)")
    return summary, index, not_lmm


def _next_text(lines: list[str], index: int) -> str:
    """The next line that is not blank, from ``index`` on ("" at the end)."""
    while index < len(lines):
        if lines[index].strip():
            return lines[index].strip()
        index += 1
    return ""


def _fit_statistics(summary: Summary, names: list[str], lines: list[str], index: int) -> int:
    """``AIC BIC logLik deviance df.resid`` (``-2*log(L)`` in recent versions) and, on the
    next line (``index``), their values; the index of the line after."""
    values = lines[index].split()
    if len(values) != len(names) or not all(is_number(v) for v in values):
        summary.unread.append(f"line {index + 1}: fit statistics not read: {lines[index]!r}")
        return index + 1
    for name, value in zip(names, values, strict=True):
        summary.fit_statistics["deviance" if name == "-2*log(L)" else name] = printed(value)
    return index + 1


def _observations(summary: Summary, text: str, index: int) -> str:
    """``Number of obs: 574, groups:  sub, 36``: the count, and the groups here or (a
    long list that R wraps) on the lines after; the section that follows."""
    count, _, groups = text.removeprefix("Number of obs:").partition(",")
    count = count.strip()
    if not count.isdigit() or len(count) > 15 or not groups.strip().startswith("groups:"):
        summary.unread.append(f"line {index}: 'Number of obs' not read: {text[:80]!r}")
        return "random"
    summary.n_obs = int(count)
    groups = groups.strip().removeprefix("groups:").strip()
    if not groups:
        return "groups"
    _groups(summary, groups, index)
    return "random"


def _groups(summary: Summary, text: str, index: int) -> None:
    """``sub, 36`` or ``a:b, 12; b, 2``: each group's name and count."""
    for item in text.split(";"):
        if not item.strip():
            continue
        name, _, count = item.strip().rpartition(",")
        count = count.strip()
        if not name.strip() or not count.isdigit() or len(count) > 15:
            summary.unread.append(f"line {index}: groups not read: {text[:80]!r}")
            return
        summary.groups[name.strip()] = int(count)


_SUMMARY_OF = re.compile(r"^summary\(\s*([A-Za-z.][\w.]*)\s*\)\s*;?\s*$")


def _assignment(lines: list[str], start: int) -> int | None:
    """Where the model a summary prints was fitted: the summary's command (``summary(t4)``,
    the last line before ``start`` with text) names an object; the index of the last line
    before it that assigns that object a ``glmmTMB(...)`` call, None when none does."""
    command = next((i for i in range(start - 1, -1, -1) if lines[i].strip()), None)
    if command is None or (named := _SUMMARY_OF.match(lines[command].strip())) is None:
        return None
    name = named.group(1)
    for index in range(command - 1, -1, -1):
        text = lines[index].strip()
        if text.startswith(name) and text[len(name) :].lstrip().startswith(("<-", "=")):
            assigned = text[len(name) :].lstrip().removeprefix("<-").removeprefix("=")
            return index if assigned.lstrip().startswith("glmmTMB(") else None
    return None


def _printout_line(text: str, position: int) -> bool:
    """A line of a printout (not of the call and its warnings) after the call's line."""
    return position > 0 and text.strip().startswith(("Formula:", "Family:", "Data:"))


def _call_and_warnings(summary: Summary, lines: list[str], first: int, after: int) -> None:
    """What the lines around a summary say of its fit: a glmmTMB call pasted before it
    that asks for REML, and glmmTMB's convergence warning, printed after the call that
    fitted the model (before the summary, ``first`` on) or after the summary of a call
    (the lines from ``after`` on, if a warning starts there)."""
    before = lines[first : summary.line - 1]
    fitted = _assignment(lines, summary.line - 1)
    if fitted is not None:  # ``summary(t4)`` of ``t4 <- glmmTMB(...)`` pasted further up
        before = lines[fitted : min(fitted + _LOOKBACK, summary.line - 1)]
        before = before[: next((i for i, x in enumerate(before) if _printout_line(x, i)), None)]
    call = " ".join(before)
    if summary.reml_criterion is None and "glmmTMB(" in call and _REML_CALL.search(call):
        summary.estimation = "REML"
        summary.notes.append("REML: the call that fitted the model, pasted before, asks for it")
        deviance = summary.fit_statistics.pop("deviance", None)
        if deviance is not None:
            summary.reml_criterion = deviance
    warning: list[str] = []
    if _next_text(lines, after).startswith("Warning"):
        index = next(i for i in range(after, len(lines)) if lines[i].strip())
        while index < len(lines) and lines[index].strip():
            warning.append(lines[index])
            index += 1
    window = [*before, *warning]
    for position, line in enumerate(window):
        if _WARNING not in line:
            continue
        message = line[line.index(_WARNING) :].strip()
        if "See " not in message and position + 1 < len(window):
            message += " " + window[position + 1].strip()  # R wraps a long warning
        message = message.split(" See ")[0].strip().rstrip(".")
        summary.converged = False
        summary.notes.append(f"glmmTMB warned: {message} (the fit did not converge)")
        return


GLMMTMB = Program(
    name="glmmTMB",
    title="R glmmTMB",
    prints="variances and SDs",
    default_method="ML",
    never_prints=("scaled_residuals.*",),
    printed_units={"random.corr.*": 0.01},
    # glmmTMB's standard errors come from TMB's Hessian in every parameter (sdreport),
    # lme4's from the fixed effects' covariance at the variance parameters' estimate: on
    # model4 of HSB, 0.2996 against 0.2989 (0.23 %)
    tolerance={"fixed.*.se": 5e-3, "fixed.*.t": 5e-3},
)


READER = Reader(
    name="glmmTMB output",
    programs=(GLMMTMB,),
    recognises=recognises,
    parse=parse,
    order=15,
)

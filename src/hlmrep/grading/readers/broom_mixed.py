"""broom.mixed's ``tidy()`` and ``glance()`` of an lmer fit, printed as a tibble or as a
data frame, read into the neutral form (:mod:`.printout`).

``tidy()`` prints one row per parameter::

    # A tibble: 10 × 8
       effect   group    term               estim…¹ std.e…² stati…³    df    p.value
       <chr>    <chr>    <chr>                <dbl>   <dbl>   <dbl> <dbl>      <dbl>
     1 fixed    <NA>     (Intercept)         12.1     0.199   60.9   160.  1.70e-112
     6 fixed    <NA>     cses:sectorCathol…  -1.64    0.240   -6.85  143.  2.01e- 10
     7 ran_pars school   sd__(Intercept)      1.54   NA       NA      NA  NA
     8 ran_pars school   cor__(Intercept).…   0.391  NA       NA      NA  NA
    10 ran_pars Residual sd__Observation      6.06   NA       NA      NA  NA

and ``glance()`` one row of the fit's statistics (``nobs sigma logLik AIC BIC REMLcrit
df.residual``; ``deviance`` for an ML fit).  Read into one
:class:`~.printout.Summary` per ``tidy()`` of the program ``broom.mixed``, with the
``glance()`` printed right after it merged in:

- a tibble's abbreviated headings (``estim…¹``) are the column names they begin; a data
  frame too wide for the console continues its columns in a second table, merged by row;
  a tibble's exponent padded with spaces (``2.32e- 40``) is one number;
- the fixed effects (``effect`` ``fixed``): estimate, SE, statistic, df, p; a term a tibble
  cut short (``cses:sectorCathol…``) keeps the part printed;
- the random part (``ran_pars``): ``sd__X`` (``var__X`` with ``scales = "vcov"``) of each
  group's terms, ``cor__A.B`` (``cov__A.B``) of a pair, the ``Residual`` group's
  ``sd__Observation`` the residual's;
- from ``glance()``: n, σ, the REML criterion (``REMLcrit``; an ML fit's ``deviance``),
  log-likelihood, AIC and BIC.

Neither prints the formula, the groups' count or the estimation: REML (lmer's default)
unless ``glance()`` shows an ML fit's deviance; graded by its numbers.  A ``glance()``
alone is read and not graded (no model beside it).
"""

from __future__ import annotations

import re

from hlmrep.grading.printout import (
    FixedTerm,
    Parsed,
    Printed,
    Program,
    RandomTerm,
    Reader,
    Summary,
    add_block,
    is_number,
    printed,
)
from hlmrep.grading.readers import r_tables

_TIDY_COLUMNS = (
    "effect",
    "group",
    "term",
    "estimate",
    "std.error",
    "statistic",
    "df",
    "p.value",
    "conf.low",
    "conf.high",
    "component",
)
_GLANCE_COLUMNS = (
    "nobs",
    "sigma",
    "logLik",
    "AIC",
    "BIC",
    "REMLcrit",
    "deviance",
    "df.residual",
)
#: A tibble's footnote marks after an abbreviated heading.
_MARKS = re.compile(r"[…¹²³⁴⁵⁶⁷⁸⁹⁰\u200b]+$")
#: A tibble's exponent padded to the column's widest: ``2.32e- 40``.
_PADDED_EXPONENT = re.compile(r"(\d)e([-+])\s+(\d)")
_ROW_NUMBER = re.compile(r"^\d+$")
#: Most rows of one table (a model has a few dozen parameters).
_MAX_ROWS = 10_000


def recognises(text: str) -> bool:
    return ("term" in text and "estim" in text and "effect" in text) or "REMLcrit" in text


def _column(heading: str, columns: tuple[str, ...]) -> str | None:
    """The column a printed heading is: itself, or the one it abbreviates (``estim…¹``)."""
    if heading in columns:
        return heading
    if "…" not in heading:
        return None
    stem = _MARKS.sub("", heading)
    matches = [c for c in columns if c.startswith(stem)]
    return matches[0] if len(matches) == 1 and stem else None


def _split(line: str) -> list[str]:
    """A line's cells: a table's row joined by `` | `` (a page's table, rmarkdown's paged
    data frame, :mod:`...documents`), its empty row-name cell dropped; else its words."""
    if " | " not in line:
        return line.split()
    cells = [cell.strip() for cell in line.split("|")]
    return cells[1:] if cells and not cells[0] else cells


def _header(line: str, columns: tuple[str, ...]) -> list[str] | None:
    tokens = _split(line)
    names = [_column(token, columns) for token in tokens]
    if not tokens or any(n is None for n in names):
        return None
    return [n for n in names if n is not None]


def parse(text: str) -> Parsed:
    """Every tidy() and glance() table in ``text`` (see the module)."""
    lines = [_PADDED_EXPONENT.sub(r"\1e\2\3", line) for line in r_tables.lines(text)]
    parsed = Parsed([], [])
    last: Summary | None = None
    index = 0
    while index < len(lines):
        tidy = _header(lines[index], _TIDY_COLUMNS)
        if tidy is not None and {"term", "estimate"} <= set(tidy) and "effect" in tidy:
            start = index
            rows, index = _rows(lines, index)
            last = _tidy(rows, start + 1)
            add_block(parsed, last, "broom.mixed tidy()", index)
            continue
        glance = _header(lines[index], _GLANCE_COLUMNS)
        if glance is not None and {"nobs", "sigma"} <= set(glance):
            rows, after = _rows(lines, index)
            if last is not None and not last.fit_statistics:
                _glance(last, rows, index + 1)
            else:
                parsed.not_graded.append(
                    f"line {index + 1}: broom.mixed glance() alone: read, not graded (no "
                    "tidy() of its model beside it)"
                )
            index = after
            continue
        index += 1
    return parsed


def _rows(lines: list[str], start: int) -> tuple[dict[str, dict[str, str]], int]:
    """The table from its header at ``lines[start]``: each row's cells by column, a data
    frame's second table of columns merged by row number; the index after the table."""
    rows: dict[str, dict[str, str]] = {}
    header: list[str] | None = None
    index = start
    while index < len(lines) and len(rows) < _MAX_ROWS:
        text = lines[index].strip()
        next_header = _header(text, _TIDY_COLUMNS) or _header(text, _GLANCE_COLUMNS)
        if next_header is not None and (header is None or index > start):
            if header is not None and not _continues(lines, index):
                break
            header = next_header
            index += 1
            continue
        tokens = _split(text)
        if not tokens or header is None:
            break
        if tokens[0].startswith("<"):  # a tibble's column types
            index += 1
            continue
        if not _ROW_NUMBER.match(tokens[0]) or len(tokens) != len(header) + 1:
            break
        rows.setdefault(tokens[0], {}).update(zip(header, tokens[1:], strict=True))
        index += 1
    return rows, index


def _continues(lines: list[str], index: int) -> bool:
    """A header whose first row is numbered 1: the next table of the same frame's columns."""
    following = lines[index + 1].split() if index + 1 < len(lines) else []
    return bool(following) and following[0] == "1"


def _number(cell: str | None) -> Printed | None:
    if cell is None or cell in ("NA", "<NA>") or not is_number(cell):
        return None
    return printed(cell)


def _tidy(rows: dict[str, dict[str, str]], line: int) -> Summary:
    summary = Summary(line=line, estimation="REML", program=BROOM.name)
    summary.notes.append("REML taken (tidy() does not say; lmer's default)")
    members: dict[str, list[RandomTerm]] = {}
    pairs: list[tuple[str, str, str, Printed]] = []  # group, kind, "A.B", value
    for number, row in rows.items():
        effect, term = row.get("effect", ""), row.get("term", "")
        estimate = _number(row.get("estimate"))
        if estimate is None:
            summary.unread.append(f"row {number}: estimate not read: {row.get('estimate')!r}")
            continue
        if effect == "fixed":
            summary.fixed.append(
                FixedTerm(
                    term,
                    estimate,
                    _number(row.get("std.error")),
                    _number(row.get("statistic")),
                    df=_number(row.get("df")),
                    p_value=_number(row.get("p.value")),
                )
            )
            continue
        if effect != "ran_pars":
            summary.unread.append(f"row {number}: effect {effect!r} not read")
            continue
        kind, _, name = term.partition("__")
        group = row.get("group", "")
        if group == "Residual":
            if kind == "sd":
                summary.residual_sd = estimate
            elif kind == "var":
                summary.residual_variance = estimate
            continue
        if kind in ("sd", "var"):
            member = RandomTerm(group, name, None, None)
            if kind == "sd":
                member.sd = estimate
            else:
                member.variance = estimate
            members.setdefault(group, []).append(member)
        elif kind in ("cor", "cov"):
            pairs.append((group, kind, name, estimate))
        else:
            summary.unread.append(f"row {number}: random parameter not read: {term!r}")
    for group, kind, name, value in pairs:
        terms = members.get(group, [])
        later = _pair(terms, name)
        if later is None:
            summary.unread.append(f"random parameter {kind}__{name} of {group}: terms not found")
            continue
        (later.correlations if kind == "cor" else later.covariances).append(value)
    summary.random = [term for group in members.values() for term in group]
    if not summary.fixed:
        summary.unread.append(f"line {summary.line}: tidy() without fixed effects")
    return summary


def _pair(terms: list[RandomTerm], name: str) -> RandomTerm | None:
    """The later term of the pair ``A.B`` (``(Intercept).cses``, or a tibble's cut-short
    ``(Intercept).…``): the correlation is listed with it, as lme4 prints it."""
    stem = name.rstrip("…")
    for later_index, later in enumerate(terms):
        for earlier in terms[:later_index]:
            whole = f"{earlier.name}.{later.name}"
            if whole == name or (name.endswith("…") and whole.startswith(stem)):
                return later
    return None


def _glance(summary: Summary, rows: dict[str, dict[str, str]], line: int) -> None:
    row = next(iter(rows.values()), {})
    count = row.get("nobs", "")
    if count.isdigit() and len(count) < 16:
        summary.n_obs = int(count)
    sigma = _number(row.get("sigma"))
    if sigma is not None and summary.residual_sd is None:
        summary.residual_sd = sigma
    for key in ("logLik", "AIC", "BIC"):
        value = _number(row.get(key))
        if value is not None:
            summary.fit_statistics[key] = value
    criterion = _number(row.get("REMLcrit"))
    if criterion is not None:
        summary.reml_criterion = criterion
    elif (deviance := _number(row.get("deviance"))) is not None:
        summary.estimation = "ML"
        summary.fit_statistics["deviance"] = deviance
        summary.notes[:] = [n for n in summary.notes if not n.startswith("REML taken")]
        summary.notes.append(f"ML: glance() on line {line} shows the fit's deviance")


BROOM = Program(
    name="broom.mixed",
    title="R broom.mixed tidy() / glance()",
    block_label="tidy()",
    prints="SDs",
    default_method="REML",
    significant_digits=3,  # a tibble's (pillar.sigfig); a data frame prints 7
    never_prints=("random.*.variance", "residual.variance", "scaled_residuals.*", "n_groups"),
)


READER = Reader(
    name="broom.mixed output",
    programs=(BROOM,),
    recognises=recognises,
    parse=parse,
    order=20,
)

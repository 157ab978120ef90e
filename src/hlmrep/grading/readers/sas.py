"""SAS PROC MIXED output read into the neutral form (:mod:`.printout`); the reading of a
SAS listing that PROC NLMIXED's reader (:mod:`.sas_nlmixed`) shares is here too.

The layout, as SAS/STAT's PROC MIXED prints it (SAS/STAT User's Guide, "The MIXED
Procedure", its output tables; Singer's 1998 "Using SAS PROC MIXED to fit multilevel
models" fits these very HSB models):

- ``Model Information``: ``Dependent Variable``, ``Covariance Structure``
  (``Unstructured``, ``Variance Components``), ``Subject Effect``, ``Estimation Method``
  (``REML``, ``ML``);
- ``Dimensions``: ``Columns in Z Per Subject``, ``Subjects``; ``Number of Observations
  Used``;
- ``Covariance Parameter Estimates``: ``UN(1,1)  school  8.6810``, … and ``Residual``
  (with ``type=vc`` one row per random effect named ``Intercept``, ``cses``; with
  ``type=unr`` ``Var(1)`` and ``Corr(2,1)``), with ``covtest`` its error, Z and p;
- ``Fit Statistics``: ``-2 Res Log Likelihood`` (REML) or ``-2 Log Likelihood`` (ML),
  ``AIC``, ``AICC``, ``BIC (smaller is better)``;
- ``Solution for Fixed Effects``: ``Effect [level] Estimate  Standard Error  DF  t Value
  Pr > |t|`` with ``<.0001``; a CLASS variable's reference level printed as 0 with ``.``.

How it reaches an instructor: the whole listing or a few of its tables, pasted into a
``/* */`` comment under the program that made it, spaces collapsed, cells joined by
`` | `` or one cell a line (a web page flattened), or lines joined (a page copy that
puts a table's rows, its fit statistics, even its title and header, on one line), cut
short anywhere.  So a printout is recognised by its vocabulary (several of its table
titles and labels), not by one title line; a run is the tables from one ``Model
Information`` (or a ``PROC MIXED`` statement) to the next, or to a table printed twice;
a table starts at its title wherever it is on a line; a table's rows are rebuilt from
its cells whatever the line breaks, its number of columns counted from its header's
words (wrapped or run on into its first row), rows run together on a line split where
each row's labels follow the previous row's last column; a fit statistic is the number
after its label.

The printout names no formula.  When the ``PROC MIXED`` step that made it is pasted
above it, its ``MODEL`` and ``RANDOM`` statements name the response and the random
effects (``random intercept grade_c2 / subject=id type=un``: ``UN(2,2)`` is grade_c2's
variance).  Otherwise an unstructured covariance does not name its random effects: the
random slopes are the fixed effects of level 1 that its size leaves room for, taken in
the order of the fixed effects (the usual ``random intercept cses / subject=school
type=un``); the page says which.  A CLASS variable's level is lme4's coding (``sector
Catholic`` is ``sectorCatholic``) and its reference row (0, ``.``) is dropped.  The
criterion is ``-2 Res Log Likelihood``, lme4's; the estimation is the printed
``Estimation Method``, else the one that criterion's label names, else ``method=`` of
the pasted program, else SAS's default REML.  SAS's BIC takes the log of the number of
subjects (lme4's of observations): it is kept under its own name, not as lme4's BIC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hlmrep.grading.printout import (
    VARIANCES_ONLY,
    FixedTerm,
    Parsed,
    Printed,
    Program,
    RandomTerm,
    Reader,
    Summary,
    is_number,
    lme4_formula,
    mark_truncated,
    number_or_none,
    printed,
)

TITLE = "The Mixed Procedure"
#: What a rule drawn between a table's rows is made of.
_RULE = frozenset("|-=+:")
_UN = re.compile(r"^(UN|Corr)\((\d+),(\d+)\)$")
_VAR = re.compile(r"^Var\((\d+)\)$")

# ----- a SAS listing: its runs, their tables and the program pasted above them ---------------

#: The titles of PROC MIXED's and PROC NLMIXED's tables (both: one reading finds each
#: table's end at the next title, whichever procedure printed it).
TITLES = frozenset(
    {
        "Model Information",
        "Class Level Information",
        "Dimensions",
        "Number of Observations",
        "Covariance Parameter Estimates",
        "Fit Statistics",
        "Information Criteria",
        "Solution for Fixed Effects",
        "Estimated G Matrix",
        "Estimated G Correlation Matrix",
        "Asymptotic Covariance Matrix of Estimates",
        "Covariance Matrix for Fixed Effects",
        "Least Squares Means",
        "Estimates",
        "Contrasts",
        "Parameter Search",
        "Convergence Status",
        "Specifications",
        "Parameters",
        "Parameter Estimates",
        "Additional Estimates",
        "Covariance Matrix of Parameter Estimates",
        "Correlation Matrix of Parameter Estimates",
    }
)
#: Titles that go on with what the table is of (``Estimated R Matrix for id 1``).
TITLE_PREFIXES = (
    "Iteration History",
    "Null Model Likelihood Ratio Test",
    "Type 3 Tests of Fixed Effects",
    "Solution for Random Effects",
    "Estimated R ",
    "Estimated V ",
    "Tests of Covariance Parameters",
)
#: A run's first table: another one starts the next run.
OPENING = ("Model Information", "Specifications")
#: Words of a table's header, never a row's label; those that name a column of numbers
#: (``Standard Error`` is one, by its ``Error``; ``Pr > |t|`` one by its ``Pr``).
HEADER_WORDS = frozenset(
    {"Cov", "Parm", "Subject", "Group", "Effect", "Parameter", "Standard", "Estimate"}
    | {"Error", "DF", "Value", "Pr", "Alpha", "Lower", "Upper", "Gradient"}
)
COLUMN_WORDS = frozenset(
    {"Estimate", "Error", "DF", "Value", "Pr", "Alpha", "Lower", "Upper", "Gradient"}
)
#: A header's words, those run on into its first row's line too (``Pr > |t|``, ``Pr Z``).
HEADER_VOCABULARY = HEADER_WORDS | {"Z", "t", ">", "|t|", "|Z|", "Chi-Square", "ChiSq", "Label"}
#: Rows of a table read at most (a table longer than any model of a course is pasted noise).
MAX_ROWS = 200
#: The fit statistics: the label SAS prints (without ``(smaller is better)``), the name
#: the neutral form keeps it under.
FIT_LABELS = {
    "-2 Res Log Likelihood": "-2 Res Log Likelihood",
    "-2 Log Likelihood": "-2 Log Likelihood",
    "AIC": "AIC",
    "AICC": "AICC",
    "BIC": "BIC (n = subjects)",
    "CAIC": "CAIC",
    "HQIC": "HQIC",
}
BIC_NOTE = (
    "SAS's BIC takes the log of the number of subjects, lme4's that of observations: "
    "kept as 'BIC (n = subjects)', not compared with lme4's BIC"
)


@dataclass
class Section:
    """One table: its title's line (0-based) and its lines' cells, blank lines left out."""

    title: str
    line: int
    lines: list[tuple[int, list[str]]] = field(default_factory=list)
    #: nothing follows it in the text: a row it ends in may be cut short
    last: bool = False
    #: its place in the text, finer than its line (a line may hold several tables)
    order: int = 0


@dataclass
class Step:
    """A ``PROC`` step pasted with its output: its first line and its text."""

    line: int
    text: list[str] = field(default_factory=list)
    #: its place in the text, finer than its line (as :attr:`Section.order`)
    order: int = 0

    def statements(self) -> list[str]:
        """Its statements, whitespace collapsed (``model math = grade_c2 / solution``)."""
        return [" ".join(s.split()) for s in " ".join(self.text).split(";") if s.strip()]


@dataclass
class Run:
    """One fit's tables, by title, and the step that made it, when pasted."""

    sections: dict[str, Section] = field(default_factory=dict)
    step: Step | None = None

    @property
    def line(self) -> int:
        return min(section.line for section in self.sections.values())

    @property
    def order(self) -> int:
        return min(section.order for section in self.sections.values())


def number(token: str) -> Printed | None:
    """SAS's numbers, ``<.0001`` an upper bound."""
    if token.startswith("<") and is_number(token[1:]):
        return printed(token[1:], "<")
    return number_or_none(token)


def is_cell(token: str) -> bool:
    """A cell of numbers: a number (``<.0001`` too) or SAS's missing value ``.``."""
    if token == "." or is_number(token):
        return True
    return token[:1] == "<" and is_number(token[1:])


def _cells(line: str) -> list[str]:
    """A line's cells: split at whitespace, without `` | `` separators, rules (``---``) and
    the ``/* */`` that a program's comment wraps the output in."""
    tokens = line.split()
    if "/*" in line or "*/" in line:
        tokens = [t.removeprefix("/*").removesuffix("*/") for t in tokens]
    return [
        t
        for t in tokens
        if t and t != "|" and not (len(t) >= 3 and t[0] in _RULE and set(t) <= _RULE)
    ]


def listing_lines(text: str) -> list[list[str]]:
    """Each line's cells; the leading block of ``# `` lines (a copied page's header, never
    SAS's) left empty, so lines keep their numbers."""
    out = []
    header = True
    for line in text.splitlines():
        header = header and line.startswith("# ")
        out.append([] if header else _cells(line))
    return out


def _title(joined: str) -> str | None:
    if joined in TITLES:
        return joined
    if not joined.startswith(TITLE_PREFIXES):
        return None
    return next(prefix for prefix in TITLE_PREFIXES if joined.startswith(prefix))


#: The titles as words, longest first; what may run on after a title on its line: its
#: header's words, a fit statistic's label or the first label of a table of labels.
_TITLE_WORDS = sorted((tuple(title.split()) for title in TITLES), key=lambda w: -len(w))
_RUN_ON = (
    HEADER_VOCABULARY
    | {"-2", "AIC", "AICC", "BIC", "CAIC", "HQIC"}
    | {
        "Data",  # Model Information's Data Set
        "Class",  # Class Level Information's header
        "Covariance",  # Dimensions' Covariance Parameters
        "Number",  # Number of Observations Read
    }
)


def _title_run_on(tokens: list[str]) -> tuple[str, list[str]] | None:
    """A title with its table's header (or its first statistic) run on after it on its
    line (a page copy that joins lines), and what follows it."""
    for words in _TITLE_WORDS:
        k = len(words)
        if len(tokens) > k and tokens[k] in _RUN_ON and tuple(tokens[:k]) == words:
            return " ".join(words), tokens[k:]
    return None


#: Titles found within a line (of two words or more: ``Estimates`` alone is a word of
#: prose too), and their first words.
_INNER_TITLES = [
    *(words for words in _TITLE_WORDS if len(words) > 1),
    *(tuple(prefix.split()) for prefix in TITLE_PREFIXES),
]
_INNER_FIRST = frozenset(words[0] for words in _INNER_TITLES)


def _split(tokens: list[str]) -> list[list[str]]:
    """A line cut before each title within it (a page copy that joins a listing's lines):
    a title after a table's last number, or one its header or first statistic runs on
    after, or a title of the tables that go on with what they are of."""
    pieces: list[list[str]] = []
    begin, k = 0, 1
    while k < len(tokens):
        words = None
        if tokens[k] in _INNER_FIRST:
            words = next((w for w in _INNER_TITLES if tuple(tokens[k : k + len(w)]) == w), None)
        if words is None:
            k += 1
            continue
        after = tokens[k + len(words)] if k + len(words) < len(tokens) else ""
        if is_cell(tokens[k - 1]) or after in _RUN_ON or " ".join(words) not in TITLES:
            pieces.append(tokens[begin:k])
            begin = k
        k += len(words)
    pieces.append(tokens[begin:])
    return pieces


def _procedure_title(tokens: list[str]) -> str | None:
    """``The Mixed Procedure`` → ``MIXED`` (SAS's page title, on every page)."""
    if 3 <= len(tokens) <= 5 and tokens[0] == "The" and tokens[-1] == "Procedure":
        return " ".join(tokens[1:-1]).upper()
    return None


def _ends_step(joined: str) -> bool:
    """A ``run;`` or ``quit;`` statement ends a step's text."""
    pieces = joined.upper().replace(" ", "").split(";")
    return "RUN" in pieces[:-1] or "QUIT" in pieces[:-1]


def read_listing(text: str, procedure: str) -> list[Run]:
    """The runs of ``procedure`` (``MIXED``, ``NLMIXED``) in a text: every table printed
    while no other procedure's statement or page title was last seen, split into runs at
    a ``PROC`` statement, an opening table or a table printed twice; each run with the
    step pasted above it (see :func:`_pair`)."""
    runs: list[Run] = []
    steps: list[Step] = []
    context: str | None = None
    run: Run | None = None
    section: Section | None = None
    step: Step | None = None
    pieces = (
        (index, tokens) for index, line in enumerate(listing_lines(text)) for tokens in _split(line)
    )
    for order, (index, tokens) in enumerate(pieces):
        if not tokens:
            continue
        joined = " ".join(tokens)
        if tokens[0].upper() == "PROC" and len(tokens) > 1:
            context = tokens[1].upper().rstrip(";")
            run = section = None
            step = Step(index, [joined], order) if context == procedure else None
            if step is not None:
                steps.append(step)
                if _ends_step(joined):
                    step = None
            continue
        title = _title(joined)
        rest: list[str] = []
        if title is None:
            title, rest = _title_run_on(tokens) or (None, [])
        name = _procedure_title(tokens)
        if step is not None and title is None and name is None:
            step.text.append(joined)
            if _ends_step(joined):
                step = None
            continue
        step = None
        if name is not None:
            if name != context:
                context, run, section = name, None, None
            continue
        if joined.startswith("The SAS System") or context not in (None, procedure):
            continue
        if title is not None:
            if run is None or title in run.sections or (title in OPENING and run.sections):
                run = Run()
                runs.append(run)
            section = Section(title, index, order=order)
            run.sections[title] = section
            if rest:
                section.lines.append((index, rest))
        elif section is not None:
            section.lines.append((index, tokens))
    if section is not None:
        section.last = True
    _pair(runs, steps)
    return runs


def _pair(runs: list[Run], steps: list[Step]) -> None:
    """Give each run the step that made it: in order when there are as many steps as runs,
    each before its run (a program pasted whole above its output); otherwise the step
    pasted between the run and the one before it."""
    if len(steps) == len(runs) and all(s.order < r.order for s, r in zip(steps, runs, strict=True)):
        for step, run in zip(steps, runs, strict=True):
            run.step = step
        return
    previous, k = -1, 0
    for run in runs:  # steps and runs in the order of the text: one pass over both
        while k < len(steps) and steps[k].order < run.order:
            k += 1
        run.step = steps[k - 1] if k and steps[k - 1].order > previous else None
        previous = run.order


def key_values(section: Section | None, keys: tuple[str, ...]) -> dict[str, tuple[str, int]]:
    """A table of labels and values (``Dependent Variable  math``): each key's value and its
    line; a value on the line after its label when the cells are one a line."""
    out: dict[str, tuple[str, int]] = {}
    if section is None:
        return out
    ordered = sorted(keys, key=len, reverse=True)
    rows = section.lines
    for n, (index, tokens) in enumerate(rows):
        joined = " ".join(tokens)
        key = next((k for k in ordered if joined == k or joined.startswith(k + " ")), None)
        if key is None or key in out:
            continue
        rest, at = joined[len(key) :].strip(), index
        if not rest and n + 1 < len(rows):
            at, following = rows[n + 1]
            rest = " ".join(following)
        if rest:
            out[key] = (rest, at)
    return out


@dataclass
class Row:
    """A table's row: its labels, its cells of numbers (as printed) and its first line."""

    names: list[str]
    cells: list[str]
    line: int


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)
    #: columns of numbers its header names; None when the header is not printed
    columns: int | None = None
    #: its last row is cut short (and dropped): the page stops there
    cut: bool = False


def read_table(section: Section | None, least: int, most_names: int) -> Table:
    """A table's rows, whatever its line breaks: a row is its labels, then its cells (as
    many as the header names columns of numbers, ``least`` when the header is missing);
    a line of labels and numbers is a row on its own, or several run together (a page
    copy that joins a table's lines: each row its labels and exactly its columns' cells,
    see :func:`_whole_rows`); labels more than ``most_names`` (prose after the table) end
    it.  The header may run on into its first row's line.  A row with too few cells that
    ends the text is cut short: dropped, the table marked so."""
    table = Table()
    if section is None:
        return table
    lines = list(section.lines)
    first = next(
        (n for n, (_, tokens) in enumerate(lines) if any(is_cell(t) for t in tokens)), len(lines)
    )
    start = max((n + 1 for n in range(first) if HEADER_WORDS & set(lines[n][1])), default=0)
    header = [t for _, tokens in lines[:start] for t in tokens]
    if first < len(lines) and start == first:  # the header run on into its first row
        index, tokens = lines[first]
        lead = next(k for k, t in enumerate(tokens) if is_cell(t))
        # up to its last word (a CLASS variable's column, ``sector``, among them)
        k = max((j + 1 for j in range(lead) if tokens[j] in HEADER_VOCABULARY), default=0)
        if any(t in COLUMN_WORDS for t in tokens[:k]):
            header += tokens[:k]
            lines[first] = (index, tokens[k:])
    table.columns = sum(t in COLUMN_WORDS for t in header) or None
    need = table.columns or least
    names: list[str] = []
    cells: list[str] = []
    begun: int | None = None
    ended = len(lines)
    tail = 0  # the line after the last that holds cells

    def flush() -> None:
        nonlocal names, cells, begun
        if cells and begun is not None:
            table.rows.append(Row(names, cells, begun))
        names, cells, begun = [], [], None

    for n in range(start, len(lines)):
        index, tokens = lines[n]
        segments = _segments(tokens)
        usable = _whole_rows(segments, table.columns, most_names)
        for labels, numbers in segments[:usable]:
            if numbers:
                tail = n + 1
            if not numbers:  # labels: a row's first cells, one a line
                if cells:
                    flush()
                begun = index if begun is None else begun
                names.extend(labels)
            elif not labels:  # numbers: a row's next cells
                begun = index if begun is None else begun
                cells.extend(numbers)
                if table.columns and len(cells) >= table.columns:
                    flush()
            else:  # a row's labels and cells: whole, or its cells go on on the next line
                flush()
                names, cells, begun = list(labels), list(numbers), index
                if not table.columns or len(cells) >= table.columns:
                    flush()
        if usable < len(segments):
            ended = n
            break
    flush()
    for row in table.rows:  # a level printed as a number (``grp 1``) is a label
        if table.columns and len(row.cells) > table.columns:
            row.names += row.cells[: -table.columns]
            row.cells = row.cells[-table.columns :]
    if table.rows and len(table.rows[-1].cells) < need and section.last and tail == len(lines):
        table.rows.pop()
        table.cut = True
    elif section.last and (ended == len(lines) - 1 or (not table.rows and ended == len(lines))):
        table.cut = True  # its last line not a row (a number cut in two), or no row at all
    return table


def _segments(tokens: list[str]) -> list[tuple[list[str], list[str]]]:
    """A line's tokens as runs of labels each followed by its run of cells: a label after
    a cell starts the next run (the first run's labels, the last run's cells may be
    none)."""
    out: list[tuple[list[str], list[str]]] = []
    labels: list[str] = []
    numbers: list[str] = []
    for token in tokens:
        if is_cell(token):
            numbers.append(token)
            continue
        if numbers:
            out.append((labels, numbers))
            labels, numbers = [], []
        labels.append(token)
    out.append((labels, numbers))
    return out


def _whole_rows(
    segments: list[tuple[list[str], list[str]]], columns: int | None, most_names: int
) -> int:
    """How many of a line's runs (:func:`_segments`) are rows of the table.  One run is a
    row when its labels are few enough; several (rows run together) are rows when each but
    the last holds exactly a row's cells: the header's count of columns (more by a level
    printed as a number, within ``most_names`` labels), or without a header the first
    run's count, alike in every run.  The first run that is not ends the table there."""
    if len(segments) == 1:
        return 0 if len(segments[0][0]) > most_names else 1
    width = columns or len(segments[0][1])
    for k, (labels, numbers) in enumerate(segments):
        if len(labels) > most_names:
            return k
        if k == len(segments) - 1:
            return k + 1
        extra = len(numbers) - width
        if extra < 0 or (extra > 0 and (columns is None or len(labels) + extra > most_names)):
            return k
    return len(segments)


def cut_short(summary: Summary, where: str) -> None:
    """A printout that stops inside a table (a page cut short): graded on what it holds."""
    summary.truncated = True
    summary.notes.append(f"the printout is cut short in its {where}: graded on what it holds")


def fit_statistics(summary: Summary, section: Section | None) -> None:
    """``Fit Statistics`` (or ``Information Criteria``): the criterion, as the label names
    it (``-2 Res Log Likelihood`` REML's, lme4's criterion; ``-2 Log Likelihood`` the
    deviance), AIC and the others under their names; a criterion of the other estimation
    than the summary's is kept under its label.  Each label is found among the table's
    words, its value the number after it (and its ``(smaller is better)``), whatever the
    line breaks: a page copy may put all of them on one line."""
    if section is None:
        return
    for label, found in _labelled_numbers([t for _, tokens in section.lines for t in tokens]):
        if FIT_LABELS[label] in summary.fit_statistics:
            continue
        if label == "-2 Res Log Likelihood" and summary.estimation == "REML":
            if summary.reml_criterion is None:
                summary.reml_criterion = found
        elif label == "-2 Log Likelihood" and summary.estimation == "ML":
            summary.fit_statistics.setdefault("deviance", found)
        else:
            summary.fit_statistics[FIT_LABELS[label]] = found
    if "BIC (n = subjects)" in summary.fit_statistics:
        summary.notes.append(BIC_NOTE)


#: The fit statistics' labels as words, longest first (``AICC`` before ``AIC``).
_FIT_WORDS = sorted(
    ((tuple(label.split()), label) for label in FIT_LABELS), key=lambda p: -len(p[0])
)
_FIT_FIRST = frozenset(words[0] for words, _ in _FIT_WORDS)


def _labelled_numbers(tokens: list[str]) -> list[tuple[str, Printed]]:
    """Each fit statistic's label among ``tokens`` with the number printed after it (past
    a parenthesised ``(smaller is better)``), in one pass."""
    out: list[tuple[str, Printed]] = []
    k = 0
    while k < len(tokens):
        label = None
        if tokens[k] in _FIT_FIRST:
            label = next(
                (name for words, name in _FIT_WORDS if tuple(tokens[k : k + len(words)]) == words),
                None,
            )
        if label is None:
            k += 1
            continue
        k += len(label.split())
        if k < len(tokens) and tokens[k].startswith("("):
            close = next(
                (j for j in range(k, min(k + 4, len(tokens))) if tokens[j].endswith(")")), None
            )
            k = k if close is None else close + 1
        found = number(tokens[k]) if k < len(tokens) else None
        if found is not None:
            out.append((label, found))
            k += 1
    return out


def options(text: str) -> dict[str, str]:
    """A statement's ``KEY = value`` options (keys upper-cased) and bare words (``SOLUTION``:
    ``""``)."""
    plain = text.replace("=", " = ").split()
    out: dict[str, str] = {}
    k = 0
    while k < len(plain):
        if k + 2 < len(plain) and plain[k + 1] == "=":
            out[plain[k].upper()] = plain[k + 2]
            k += 3
        else:
            out[plain[k].upper()] = ""
            k += 1
    return out


# ----- PROC MIXED ----------------------------------------------------------------------------

#: The signals of PROC MIXED's printout: enough of them, and one of its two tables.
SIGNALS = (
    TITLE,
    "Covariance Parameter Estimates",
    "Solution for Fixed Effects",
    "Cov Parm",
    "-2 Res Log Likelihood",
    "UN(1,1)",
    "Columns in Z",
    "Fit Statistics",
    "Model Information",
    "AIC (smaller is better)",
)
#: Tables a run needs to be a PROC MIXED fit.
TABLES = ("Covariance Parameter Estimates", "Solution for Fixed Effects")
#: ``Cov Parm`` names of covariance structures lme4 has no counterpart for, and the
#: beginnings of the others'.
_STRUCTURED = frozenset({"CS", "CSH", "Variance", "AR(1)", "ARH(1)", "ARMA(1,1)", "Rho", "Gamma"})
_STRUCTURED_PREFIXES = ("TOEP(", "TOEPH(", "FA(", "FA0(", "FA1(", "SP(", "HF(", "UNR(", "CHOL(")
INFO_KEYS = (
    "Dependent Variable",
    "Covariance Structure",
    "Covariance Structures",
    "Subject Effect",
    "Estimation Method",
)


def recognises(text: str) -> bool:
    found = sum(signal in text for signal in SIGNALS) + ("PROC MIXED" in text.upper())
    return found >= 3 and any(table in text for table in TABLES)


def parse(text: str) -> Parsed:
    parsed = Parsed([], [])
    for run in read_listing(text, "MIXED"):
        if not any(table in run.sections for table in TABLES):
            continue
        summary = _run(run)
        parsed.problems += summary.unread
        parsed.blocks.append(summary)
    return parsed


@dataclass
class _Program:
    """What the pasted ``PROC MIXED`` step says: ``method=``, the response, the model's
    effects (lower case), the CLASS variables and each ``RANDOM`` statement's effects and
    subject."""

    method: str = ""
    response: str = ""
    effects: set[str] = field(default_factory=set)
    classes: set[str] = field(default_factory=set)
    random: list[tuple[list[str], str]] = field(default_factory=list)


def _program(step: Step | None) -> _Program:
    found = _Program()
    if step is None:
        return found
    for statement in step.statements():
        keyword, _, body = statement.partition(" ")
        keyword = keyword.upper()
        if keyword == "PROC":
            found.method = options(body).get("METHOD", "").upper()
        elif keyword == "MODEL":
            left, _, right = body.partition("=")
            effects, _, _ = right.partition("/")
            found.response = left.strip()
            for effect in effects.split():
                found.effects |= {p.lower() for p in effect.replace("|", "*").split("*") if p}
        elif keyword == "CLASS":
            found.classes |= set(body.split())
        elif keyword == "RANDOM":
            effects, _, rest = body.partition("/")
            said = options(rest)
            found.random.append((effects.split(), said.get("SUBJECT", "")))
    return found


def _estimation(
    info: dict[str, tuple[str, int]], fit: Section | None, method: str
) -> tuple[str, str]:
    """The estimation and where it was read: the printed ``Estimation Method``, else the
    one the criterion's label names, else the program's ``method=``, else SAS's default."""
    if "Estimation Method" in info:
        printed_method = info["Estimation Method"][0].split()[0].upper()
        return ("ML" if printed_method == "ML" else "REML"), ""
    labels = key_values(fit, ("-2 Res Log Likelihood", "-2 Log Likelihood"))
    if "-2 Res Log Likelihood" in labels:
        return "REML", "as its '-2 Res Log Likelihood' says"
    if "-2 Log Likelihood" in labels:
        return "ML", "as its '-2 Log Likelihood' says"
    if method:
        return ("ML" if method == "ML" else "REML"), f"as the program's method={method} says"
    return "REML", "SAS's default"


def _run(run: Run) -> Summary:
    sections = run.sections
    info = key_values(sections.get("Model Information"), INFO_KEYS)
    code = _program(run.step)
    fit = sections.get("Fit Statistics") or sections.get("Information Criteria")
    estimation, why = _estimation(info, fit, code.method)
    summary = Summary(line=run.line + 1, estimation=estimation, program="SAS")
    if why:
        summary.notes.append(f"the estimation method is not printed: {estimation}, {why}")
    counts = key_values(
        sections.get("Dimensions"), ("Subjects", "Columns in Z Per Subject")
    ) | key_values(sections.get("Number of Observations"), ("Number of Observations Used",))
    used = counts.get("Number of Observations Used", ("", 0))[0].split()[:1]
    if used and used[0].isdigit():
        summary.n_obs = int(used[0])
    fit_statistics(summary, fit)
    classes = _classes(sections.get("Class Level Information")) | code.classes
    covariance = read_table(sections.get("Covariance Parameter Estimates"), 1, 3)
    solution = read_table(sections.get("Solution for Fixed Effects"), 5, 4)
    if len(covariance.rows) > MAX_ROWS or len(solution.rows) > MAX_ROWS:
        summary.unread.append(f"line {summary.line}: a table longer than {MAX_ROWS} rows")
        return summary
    for row in solution.rows:
        _fixed_row(summary, row, classes)
    rows = [(row.names, number(row.cells[0]), row.line) for row in covariance.rows if row.names]
    summary.unread += [
        f"line {row.line + 1}: covariance parameter without a name: {' '.join(row.cells)[:80]!r}"
        for row in covariance.rows
        if not row.names
    ]
    printed_subject = next((names[1] for names, _, _ in rows if len(names) > 1), "")
    subject = (
        printed_subject
        or info.get("Subject Effect", ("", 0))[0]
        or next((s for _, s in code.random if s), "subject")
    )
    subjects = counts.get("Subjects", ("", 0))[0].split()[:1]
    if subjects and subjects[0].isdigit():
        summary.groups = {subject: int(subjects[0])}
    randoms = code.random if _fits(code, summary) else []
    if code.random and not randoms:
        summary.notes.append(
            "the pasted PROC MIXED step does not name these fixed effects (another model's?): "
            "its RANDOM statement is not used"
        )
    _covariances(summary, rows, subject, randoms)
    _model(summary, info, code, covariance.cut or solution.cut)
    return summary


def _fits(code: _Program, summary: Summary) -> bool:
    """The pasted step is this output's: its MODEL names every printed fixed effect."""
    if not code.random:
        return False
    parts = {p.lower() for t in summary.fixed for p in t.term.split(":")} - {"(intercept)"}
    return all(any(p.startswith(e) for e in code.effects) for p in parts)


def _model(summary: Summary, info: dict[str, tuple[str, int]], code: _Program, cut: bool) -> None:
    """The formula rebuilt (one ``( | )`` per subject), and what the page should say of
    the reading: a run cut short, a run without fixed effects (not graded)."""
    if not summary.fixed:
        summary.truncated = cut
        summary.unread.append(
            f"line {summary.line}: no 'Solution for Fixed Effects' rows (MODEL's /solution "
            "option prints them; or the page is cut before them): not graded"
        )
        return
    if cut:
        cut_short(summary, "fixed effects")
    elif not summary.random:
        mark_truncated(summary)
    if not summary.random:
        return
    response = (info.get("Dependent Variable", ("", 0))[0].split() or [code.response or "y"])[0]
    structure = info.get("Covariance Structure", ("", 0))[0]
    terms = [t.term for t in summary.fixed if t.term != "(Intercept)"]
    groups: dict[str, list[RandomTerm]] = {}
    for term in summary.random:
        groups.setdefault(term.group, []).append(term)
    fixed_part = f"{response} ~ {' + '.join(terms) or '1'} + "
    bars = []
    for group, effects in groups.items():
        names = [t.name for t in effects]
        correlated = any(t.covariances or t.correlations for t in effects) or (
            "Unstructured" in structure
        )
        formula = lme4_formula(
            response,
            terms,
            [n for n in names if n != "(Intercept)"],
            group,
            correlated=correlated,
            intercept="(Intercept)" in names,
        )
        bars.append(formula.removeprefix(fixed_part))
    summary.formula = fixed_part + " + ".join(bars)


def _fixed_row(summary: Summary, row: Row, classes: set[str]) -> None:
    """``Effect [level ...] Estimate SE DF t p``; a reference level (0 and ``.``) is dropped."""
    values = [number(cell) for cell in row.cells]
    if not row.names:
        summary.unread.append(f"line {row.line + 1}: fixed effect not read: {row.cells}")
        return
    if len(values) >= 5 and all(n is not None for n in values[:5]):
        effect, levels = row.names[0], row.names[1:]
        if effect.lower() == "intercept":
            term = "(Intercept)"
        else:
            term = _lme4_name(effect, levels, {c.lower() for c in classes})
        estimate, se, df, t, p = values[:5]
        assert estimate is not None and se is not None and t is not None
        summary.fixed.append(FixedTerm(term, estimate, se, t, df=df, p_value=p))
    elif not (values and values[0] is not None and values[0].value == 0):
        text = " ".join([*row.names, *row.cells])
        summary.unread.append(f"line {row.line + 1}: fixed effect not read: {text[:80]!r}")


def _lme4_name(effect: str, levels: list[str], classes: set[str]) -> str:
    """``sector Catholic`` → ``sectorCatholic``; ``cses*meanses`` → ``cses:meanses``;
    ``cses*sector Catholic`` → ``cses:sectorCatholic``: each CLASS variable of the effect
    takes the next printed level."""
    level = iter(levels)
    out = []
    for part in effect.split("*"):
        out.append(part + next(level, "") if part.lower() in classes else part)
    return ":".join(out)


def _classes(section: Section | None) -> set[str]:
    """The CLASS variables, from ``Class Level Information`` (``sector 2 Catholic Public``):
    each name printed just before its count of levels, whatever the line breaks."""
    if section is None:
        return set()
    tokens = [t for _, line in section.lines for t in line]
    return {
        tokens[k - 1]
        for k in range(1, len(tokens))
        if tokens[k].isdigit()
        and not tokens[k - 1].isdigit()
        and tokens[k - 1] not in ("Class", "Levels", "Values")
    }


def _covariances(
    summary: Summary,
    rows: list[tuple[list[str], Printed | None, int]],
    subject: str,
    randoms: list[tuple[list[str], str]],
) -> None:
    """The ``Cov Parm`` rows as random effects: an unstructured block (``UN(i,j)``, or
    ``Var(i)`` and ``Corr(i,j)``) per subject, named by its RANDOM statement or else by
    the level-1 fixed effects; a row named by its effect (``type=vc``); ``Residual``."""
    from hlmrep.grading.their_model import role_of

    blocks: dict[str, dict[tuple[str, int, int], Printed]] = {}
    named: list[tuple[str, str, Printed]] = []
    for names, value, line in rows:
        name = names[0]
        group = names[1] if len(names) > 1 else subject
        match = _UN.match(name)
        variance = _VAR.match(name)
        if value is None:
            summary.notes.append(f"line {line + 1}: covariance parameter {name} not estimated")
        elif name == "Residual":
            if summary.residual_variance is None:
                summary.residual_variance = value
        elif match:
            kind = "cov" if match.group(1) == "UN" else "corr"
            i, j = int(match.group(2)), int(match.group(3))
            blocks.setdefault(group, {})["cov" if i == j else kind, i, j] = value
        elif variance:
            i = int(variance.group(1))
            blocks.setdefault(group, {})["cov", i, i] = value
        elif name in _STRUCTURED or name.startswith(_STRUCTURED_PREFIXES):
            summary.unread.append(
                f"line {line + 1}: covariance parameter {name} (a type= structure lme4 has "
                "no counterpart for) not read"
            )
        else:
            named.append((group if len(names) > 1 else "", name, value))
    # the random slopes: main effects, SES first (a level-1 predictor), in printed order
    main = [t.term for t in summary.fixed if t.term != "(Intercept)" and ":" not in t.term]
    level1 = sorted(main, key=lambda n: (role_of(n) != "ses", main.index(n)))
    printed_terms = {t.term.lower(): t.term for t in summary.fixed}
    for group, block in blocks.items():
        size = max(i for _, i, _ in block)
        statement = next(
            (e for e, s in randoms if s.lower() == group.lower() and len(e) == size),
            next((e for e, _ in randoms if len(e) == size), None) if len(blocks) == 1 else None,
        )
        if statement is not None:
            names = [_effect_name(e, printed_terms) for e in statement]
            summary.notes.append(
                f"SAS prints no formula: {group}'s random effects are named by the pasted "
                f"RANDOM statement ({' '.join(statement)})"
            )
        else:
            names = ["(Intercept)", *level1[: size - 1]]
            summary.notes.append(
                "SAS prints no formula: the model is rebuilt from the fixed effects and the "
                "random effects' count, its slopes the first level-1 fixed effects"
            )
            names += [f"effect {k}" for k in range(len(names) + 1, size + 1)]
        for i in range(1, size + 1):
            term = RandomTerm(group, names[i - 1], block.get(("cov", i, i)), None)
            term.covariances = [block["cov", i, j] for j in range(1, i) if ("cov", i, j) in block]
            term.correlations = [
                block["corr", i, j] for j in range(1, i) if ("corr", i, j) in block
            ]
            summary.random.append(term)
    for group, name, value in named:
        if not group and name.lower() not in printed_terms and name.lower() != "intercept":
            # ``random school;``: the Cov Parm is the group, its effect the intercept
            summary.random.append(RandomTerm(name, "(Intercept)", value, None))
        else:
            effect = _effect_name(name, printed_terms)
            summary.random.append(RandomTerm(group or subject, effect, value, None))


def _effect_name(effect: str, printed_terms: dict[str, str]) -> str:
    """A RANDOM statement's effect as lme4 names it: ``intercept`` (or ``int``) is
    ``(Intercept)``, another the fixed effect it is (as printed), else as written."""
    if effect.lower() in ("intercept", "int"):
        return "(Intercept)"
    return printed_terms.get(effect.lower(), effect)


SAS = Program(
    name="SAS",
    block_label="PROC MIXED",
    title="SAS PROC MIXED",
    prints="variances",
    default_method="REML",
    never_prints=VARIANCES_ONLY,
)


READER = Reader(
    name="SAS output",
    programs=(SAS,),
    recognises=recognises,
    parse=parse,
    order=50,
)

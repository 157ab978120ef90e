"""What hlmrep understood of a printout, before any grade: ``python -m hlmrep read FILE``.

An instructor sees here what the readers took from a file (the neutral form of
:mod:`.printout`), each number with its printed text and the line it was printed on, and
what was not read: a quantity the program prints that the file does not hold (cut short,
left out) or a table row that could not be read.  Nothing is compared with a reference:
the file may be of any data set.  The tests read the corpus of real printouts with it.

The line of a number is found after reading, in the block's own lines: the first line at
or after the block's start that holds the number's printed text as a token, beside its
label where it has one (a fixed effect's term, a random effect's name).  Readers keep the
number's text, so the search finds the line it was read from.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hlmrep.files import write_atomically
from hlmrep.grading.printout import (
    Anova,
    Coefficients,
    FTests,
    Intervals,
    Printed,
    Reported,
    Summary,
)
from hlmrep.grading.readers import PROGRAMS
from hlmrep.grading.references import F_METHOD_WORDS
from hlmrep.grading.submission import Submission, SubmissionError, read


@dataclass
class _Lines:
    """The text's lines as tokens, for finding where a number was printed."""

    lines: list[str]

    def __post_init__(self) -> None:
        self.tokens = [_tokens(line) for line in self.lines]

    def find(
        self,
        number: Printed | None,
        start: int,
        end: int,
        label: str = "",
        row: int | None = None,
    ) -> int | None:
        """1-based line of ``number``'s text in lines ``start``..``end`` (1-based,
        inclusive): on its row's line ``row`` when it is there (a fixed effect's SE and df
        beside its estimate), else beside ``label`` where a line has both, else the first."""
        if number is None:
            return None
        wanted = {number.text, number.text.lstrip("+")}
        if row is not None and wanted & self.tokens[row - 1]:
            return row
        first = None
        for index in range(max(start, 1) - 1, min(end, len(self.lines))):
            if wanted & self.tokens[index]:
                if not label or label in self.lines[index]:
                    return index + 1
                first = first or index + 1
        return first


_TOKEN_SPLIT = re.compile(r"[\s|,;:()=<>*\[\]]+")


def _tokens(line: str) -> set[str]:
    plain = line.replace("\u2212", "-")
    tokens = set(_TOKEN_SPLIT.split(plain))
    tokens |= set(plain.split())
    return {token for token in tokens if token}


def _number(number: Printed | None, line: int | None) -> dict[str, Any] | None:
    if number is None:
        return None
    out: dict[str, Any] = {"value": number.value, "text": number.text}
    if number.bound:
        out["bound"] = number.bound
    if line is not None:
        out["line"] = line
    return out


def _summary(block: Summary, lines: _Lines, end: int) -> dict[str, Any]:
    def num(
        value: Printed | None, label: str = "", row: int | None = None
    ) -> dict[str, Any] | None:
        return _number(value, lines.find(value, block.line, end, label, row))

    def row_of(value: Printed | None, label: str) -> int | None:
        return lines.find(value, block.line, end, label)

    program = PROGRAMS.get(block.program)
    out: dict[str, Any] = {
        "kind": "summary",
        "line": block.line,
        "program": block.program,
        "program_title": program.title if program else block.program,
        "estimation": block.estimation,
        "df_method": block.df_method or None,
        "formula": block.formula,
        "n_obs": block.n_obs,
        "groups": dict(block.groups),
        "converged": block.converged,
        "truncated": block.truncated,
        "fixed": [
            {
                "term": term.term,
                "estimate": num(term.estimate, term.term),
                "std_error": num(term.std_error, term.term, row),
                "statistic": num(term.t_value, term.term, row),
                "df": num(term.df, term.term, row),
                "p_value": num(term.p_value, term.term, row),
                "robust_se": num(block.robust_se.get(term.term), term.term),
            }
            for term in block.fixed
            for row in [row_of(term.estimate, term.term)]
        ],
        "random": [
            {
                "group": effect.group,
                "name": effect.name,
                "variance": num(effect.variance, effect.name),
                "sd": num(effect.sd, effect.name, row),
                "correlations": [num(value, "", row) for value in effect.correlations],
                "covariances": [num(value) for value in effect.covariances],
            }
            for effect in block.random
            for row in [row_of(effect.variance, effect.name)]
        ],
        "residual": {
            "variance": num(block.residual_variance),
            "sd": num(block.residual_sd),
        },
        "reml_criterion": num(block.reml_criterion),
        "fit_statistics": {name: num(value) for name, value in block.fit_statistics.items()},
        "scaled_residuals": [num(value) for value in block.scaled_residuals],
        "notes": list(block.notes),
        "unread": list(block.unread),
        "not_read": _not_read(block),
    }
    return out


def _not_read(block: Summary) -> list[str]:
    """What the program prints for a fit that this printout does not hold."""
    program = PROGRAMS.get(block.program)
    never = program.never_prints if program else ()
    missing = []
    if not block.fixed:
        missing.append("fixed effects")
    if not block.random:
        missing.append("random effects")
    if block.residual_variance is None and block.residual_sd is None:
        missing.append("the residual's variance or SD")
    if block.reml_criterion is None and not block.fit_statistics:
        missing.append("criterion or log likelihood")
    if block.n_obs is None and "n_*" not in never:
        missing.append("number of observations")
    if not block.groups and "n_*" not in never:
        missing.append("number of groups")
    if block.truncated:
        missing.append("the rest of the printout (cut short)")
    return missing


def _row_values(
    values: dict[str, Printed], label: str, lines: _Lines, start: int, end: int
) -> dict[str, Any]:
    """A table row's numbers, each with the line it was printed on (beside its label)."""
    return {
        name: _number(value, lines.find(value, start, end, label)) for name, value in values.items()
    }


def _anova(block: Anova, lines: _Lines, end: int) -> dict[str, Any]:
    return {
        "kind": block.kind,
        "line": block.line,
        "refitted_by_ml": block.refitted_by_ml,
        "formulas": dict(block.formulas),
        "rows": [
            {
                "model": row.model,
                "values": _row_values(row.values, row.model, lines, block.line, end),
            }
            for row in block.rows
        ],
        "unread": list(block.unread),
    }


def _f_tests(block: FTests, lines: _Lines, end: int) -> dict[str, Any]:
    return {
        "kind": "F tests",
        "line": block.line,
        "printed_by": block.printed_by,
        "type": block.type,
        "method": block.method,
        "rows": [
            {"term": row.term, "values": _row_values(row.values, row.term, lines, block.line, end)}
            for row in block.rows
        ],
        "unread": list(block.unread),
    }


def _intervals(block: Intervals, lines: _Lines, end: int) -> dict[str, Any]:
    return {
        "kind": "confint",
        "line": block.line,
        "method": block.method,
        "level": block.level,
        "nsim": block.nsim,
        "rows": [
            {
                "name": row.name,
                "lower": _number(row.lower, lines.find(row.lower, block.line, end, row.name)),
                "upper": _number(row.upper, lines.find(row.upper, block.line, end, row.name)),
            }
            for row in block.rows
        ],
        "unread": list(block.unread),
    }


def _coefficients(block: Coefficients, lines: _Lines, end: int) -> dict[str, Any]:
    return {
        "kind": "fixef",
        "line": block.line,
        "values": {
            name: _number(value, lines.find(value, block.line, end))
            for name, value in zip(block.names, block.values, strict=False)
        },
        "unread": list(block.unread),
    }


def _reported(block: Reported) -> dict[str, Any]:
    return {
        "kind": "answer sheet",
        "line": block.line,
        "target": block.target,
        "numbers": {
            qid: _number(value, block.rows.get(qid)) for qid, value in block.numbers.items()
        },
        "unread": list(block.unread),
    }


def neutral_form(submission: Submission) -> dict[str, Any]:
    """The submission's reading as plain data (JSON): its format, every block with each
    number's text and line, what could not be read and what is read but not graded."""
    lines = _Lines(submission.text.splitlines())
    out: dict[str, Any] = {"file": submission.name, "format": submission.format, "blocks": []}
    parsed = submission.parsed
    assert parsed is not None
    starts = [block.line for block in parsed.blocks] + [len(lines.lines) + 1]
    for index, block in enumerate(parsed.blocks):
        later = [start for start in starts[index + 1 :] if start > block.line]
        end = block.end or max(later[0] - 1 if later else len(lines.lines), block.line)
        if isinstance(block, Summary):
            out["blocks"].append(_summary(block, lines, end))
        elif isinstance(block, Anova):
            out["blocks"].append(_anova(block, lines, end))
        elif isinstance(block, FTests):
            out["blocks"].append(_f_tests(block, lines, end))
        elif isinstance(block, Intervals):
            out["blocks"].append(_intervals(block, lines, end))
        elif isinstance(block, Reported):
            out["blocks"].append(_reported(block))
        else:
            out["blocks"].append(_coefficients(block, lines, end))
    out["problems"] = list(parsed.problems)
    out["not_graded"] = list(parsed.not_graded)
    return out


def _show(number: dict[str, Any] | None) -> str:
    if number is None:
        return "-"
    where = f" (line {number['line']})" if "line" in number else ""
    return f"{number.get('bound', '')}{number['text']}{where}"


def describe(form: dict[str, Any]) -> str:
    """The neutral form as a person reads it."""
    out = [f"{form['file']}: {form['format']}"]
    for block in form["blocks"]:
        if block["kind"] == "answer sheet":
            out += ["", f"line {block['line']}: the answer sheet's rows for {block['target']}"]
            out += [f"  {qid} = {_show(value)}" for qid, value in block["numbers"].items()]
            continue
        if block["kind"] == "summary":
            groups = ", ".join(f"{g} {n}" for g, n in block["groups"].items()) or "-"
            out += [
                "",
                f"line {block['line']}: a fitted model, {block['program_title']}, "
                f"{block['estimation']}"
                + (
                    f", t tests with {F_METHOD_WORDS[block['df_method']]}"
                    if block["df_method"]
                    else ""
                ),
                f"  formula: {block['formula'] or '-'}",
                f"  observations: {block['n_obs'] if block['n_obs'] is not None else '-'}; "
                f"groups: {groups}",
                "  fixed effects:",
            ]
            for term in block["fixed"]:
                parts = [f"estimate {_show(term['estimate'])}", f"SE {_show(term['std_error'])}"]
                for key, name in (("df", "df"), ("p_value", "p"), ("robust_se", "robust SE")):
                    if term[key] is not None:
                        parts.append(f"{name} {_show(term[key])}")
                out.append(f"    {term['term']}: " + ", ".join(parts))
            out.append("  random effects:")
            for effect in block["random"]:
                parts = []
                if effect["variance"] is not None:
                    parts.append(f"variance {_show(effect['variance'])}")
                if effect["sd"] is not None:
                    parts.append(f"SD {_show(effect['sd'])}")
                for key, name in (("correlations", "corr"), ("covariances", "cov")):
                    if effect[key]:
                        parts.append(f"{name} " + " ".join(_show(v) for v in effect[key]))
                out.append(f"    {effect['group']} {effect['name']}: " + ", ".join(parts))
            residual = block["residual"]
            out.append(
                f"  residual: variance {_show(residual['variance'])}, SD {_show(residual['sd'])}"
            )
            if block["reml_criterion"] is not None:
                out.append(f"  REML criterion: {_show(block['reml_criterion'])}")
            for name, value in block["fit_statistics"].items():
                out.append(f"  {name}: {_show(value)}")
            if block["converged"] is not None:
                out.append(f"  converged: {'yes' if block['converged'] else 'NO'}")
            for note in block["notes"]:
                out.append(f"  note: {note}")
            for row in block["unread"]:
                out.append(f"  NOT READ: {row}")
            if block["not_read"]:
                out.append(f"  not in the printout: {', '.join(block['not_read'])}")
        else:
            out += ["", f"line {block['line']}: {block['kind']}"]
            if block["kind"] == "F tests":
                out[-1] += (
                    f" ({block['printed_by']}: type {block['type']}, "
                    f"{F_METHOD_WORDS[block['method']]})"
                )
            for row in block.get("rows", []):
                if "values" in row:
                    cells = ", ".join(f"{k} {_show(v)}" for k, v in row["values"].items())
                    out.append(f"    {row.get('model', row.get('term'))}: {cells}")
                else:
                    out.append(f"    {row['name']}: {_show(row['lower'])} {_show(row['upper'])}")
            for name, value in block.get("values", {}).items():
                out.append(f"    {name}: {_show(value)}")
            for row in block["unread"]:
                out.append(f"  NOT READ: {row}")
    for problem in form.get("problems", []):
        out.append(f"problem: {problem}")
    for item in form.get("not_graded", []):
        out.append(f"read, not graded: {item}")
    return "\n".join(out)


def read_command(path: Path, json_path: Path | None) -> int:
    """``python -m hlmrep read FILE [--json OUT]``: 0 when something was read, 2 when
    nothing was (the reason, naming every program read, on standard error)."""
    try:
        submission = read(path)
    except SubmissionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    form = neutral_form(submission)
    print(describe(form))
    if json_path is not None:
        text = json.dumps(form, indent=1, ensure_ascii=False) + "\n"
        write_atomically(json_path, lambda temporary: temporary.write_text(text, "utf-8"))
    return 0

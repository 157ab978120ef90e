"""Property-based fuzzing of the three readers of untrusted text (hypothesis).

Whatever text a student or a config holds, each reader returns a result or raises its own
clean error (an HlmrepError with a message), and does so within a time bound: never a
traceback from inside, never a hang. The generators build text from the readers' own
vocabulary (formula tokens; lines of real lme4 output cut, repeated and garbled; answer
sheet ids and cells) so that the examples reach deep into the parsers, not only their
first line.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from hlmrep.engine.formula import parse_formula
from hlmrep.errors import HlmrepError, ModelSpecificationError
from hlmrep.grading.answer_sheet import read as read_sheet
from hlmrep.grading.answer_sheet import rows as sheet_rows
from hlmrep.grading.grade import grade_file
from hlmrep.grading.readers.lme4 import parse

#: Per example: every reader is linear in its input, a few milliseconds here.
DEADLINE = datetime.timedelta(seconds=3)
EXAMPLES = int(os.environ.get("HLMREP_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=DEADLINE,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples in CI as here: a failure is reproducible
)

FORMULA_TOKENS = [
    "y", "x", "z", "g", "mathach", "cses", "school", "~", "+", "-", "*", "/", ":", "^", "|",
    "||", "(", ")", "0", "1", "2", "99", "999999999", "I(", "log(", "exp(", "system(", " ",
    "`", "'", '"', ";", "$", "@", "::", "{", "}", ".", "_", "\n", "1e309", "NaN",
]  # fmt: skip

LINES = sorted(
    {
        line
        for path in (ROOT / "tests/fixtures/grading/lme4").glob("*.txt")
        for line in path.read_text().splitlines()
    }
)
GARBLE = ["NaN", "Inf", "-Inf", "1e309", "9" * 60, "<", "< 2.2e-16", "***", "##", ":", "(",
          "Number of obs:", "Models:", "Fixed effects:", "Random effects:", "\t", "-"]  # fmt: skip


@FUZZ
@given(st.lists(st.sampled_from(FORMULA_TOKENS), max_size=120).map("".join))
def test_the_formula_parser_returns_or_refuses_cleanly(text):
    try:
        formula = parse_formula(text)
    except ModelSpecificationError:
        return
    # What parses is a formula that rebuilds: R's text parses to the same terms.
    assert parse_formula(formula.canonical()).canonical() == formula.canonical()


@FUZZ
@given(st.text(max_size=300))
def test_the_formula_parser_takes_any_unicode(text):
    with contextlib.suppress(ModelSpecificationError):
        parse_formula(text)


def _garbled(line: str, data: st.DataObject) -> str:
    tokens = line.split(" ")
    for _ in range(data.draw(st.integers(0, 3))):
        position = data.draw(st.integers(0, len(tokens)))
        tokens.insert(position, data.draw(st.sampled_from(GARBLE)))
    return " ".join(tokens)


@FUZZ
@given(data=st.data())
def test_the_r_output_reader_and_the_grader_return_or_refuse_cleanly(
    data, grading_catalogue, tmp_path
):
    lines = data.draw(st.lists(st.sampled_from(LINES), max_size=80))
    lines = [_garbled(line, data) if data.draw(st.booleans()) else line for line in lines]
    prefix = data.draw(st.sampled_from(["", "## ", "> ", "#> "]))
    text = "\n".join(prefix + line for line in lines)
    parsed = parse(text)
    for block in parsed.blocks:
        assert block.line >= 1
    path = tmp_path / "fuzzed.txt"
    path.write_text(text, encoding="utf-8")
    grade = grade_file(path, grading_catalogue)  # the whole grader: no exception escapes
    assert grade["status"] in ("graded", "error")
    if grade["status"] == "error":
        assert grade["error"].startswith("fuzzed.txt: ")
    else:
        assert grade["score"] is None or 0.0 <= grade["score"] <= 1.0


IDS = [row["id"] for row in sheet_rows()]
CELLS = st.one_of(
    st.sampled_from(["12.64", "-0.02", "1.2e-5", "< 2.2e-16", "1e400", "NaN", "", "1,5", '"']),
    st.text(max_size=20),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@FUZZ
@given(
    st.sampled_from([",", ";", "\t"]),
    st.lists(st.tuples(st.one_of(st.sampled_from(IDS), st.text(max_size=15)), CELLS),
             max_size=40),
)  # fmt: skip
def test_the_answer_sheet_reader_returns_or_refuses_cleanly(delimiter, rows):
    lines = [delimiter.join(("id", "quantity", "value"))]
    lines += [delimiter.join((qid, "", cell)) for qid, cell in rows]
    try:
        sheet = read_sheet("\n".join(lines), "sheet.csv")
    except HlmrepError as error:
        assert str(error).startswith("sheet.csv")
        return
    for target, numbers in sheet.values.items():
        assert all(f"{target}.{quantity}" in IDS for quantity in numbers)


def test_the_fuzzed_vocabulary_is_real_output():
    assert len(LINES) > 100 and any(line.startswith("Linear mixed model fit") for line in LINES)
    assert Path(ROOT / "tests/fixtures/grading/make_submissions.R").is_file()

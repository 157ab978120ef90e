"""The prepared table and the per-school tables, read back by every later stage with their
factor codings and exact school ids.

Reading results is kept apart from preparing them (:mod:`hlmrep.data.prepare`), so that a
fit, a bootstrap chunk or a figure loads the readers and nothing of the input checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from hlmrep.errors import InputDataError
from hlmrep.files import check_regular

#: The range of int64: school ids beyond it are kept as exact Python integers.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


#: Factor codings of the prepared table; the first level is the reference (R's default).
CATEGORY_LEVELS: dict[str, list[str]] = {
    "sector": ["Public", "Catholic"],
    "minority": ["No", "Yes"],
}


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

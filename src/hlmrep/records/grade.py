"""The grade record: one submission graded number by number (``grade_submission``); read
by the index page and ``summary.csv`` (``grade_index``).

A file that could not be graded has a record too (``status: error`` and the reason), so
that the index lists every entry of the submissions folder.
"""

from typing import Literal, NotRequired, TypedDict

from hlmrep.records import RecordKind


class ModelGrade(TypedDict):
    target: str
    confidence: str


class GradeRecord(TypedDict):
    submission: str
    key: str
    reference: str
    status: Literal["graded", "error"]
    format: str | None
    error: NotRequired[str | None]
    models: list[ModelGrade]
    counts: dict[str, int]
    graded: int
    missing: int
    replicated: int
    score: float | None
    all_replicated: bool
    diagnoses: list[str]
    notes: list[str]
    titles: dict[str, str]
    unmatched: int


GRADE = RecordKind(
    GradeRecord,
    "grade record",
    "grade-submission",
    final_newline=True,
    ensure_ascii=False,
)

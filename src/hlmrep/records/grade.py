"""The grade record: one submission graded number by number (``grade_submission``); read
by the index page and ``summary.csv`` (``grade_index``).

A file that could not be graded has a record too (``status: error`` and the reason), so
that the index lists every entry of the submissions folder.
"""

from typing import Any, Literal, NotRequired, TypedDict

from hlmrep.records import RecordKind


class Diagnosis(TypedDict):
    """A mistake named: a catalogued one (mistakes.yaml) or a difference of the model
    written from the reference (:mod:`hlmrep.grading.their_model`)."""

    id: str
    title: str
    explanation: str
    fix: str
    kind: str


class NumberGrade(TypedDict):
    """One submitted number against the printed reference and the verified optimum."""

    id: str
    quantity: str
    symbol: str | None
    submitted: str
    reference: str | None
    reference_status: str | None
    reference_note: str | None
    optimum: float | None
    verdict: str
    against: str
    diagnosis: str | None
    their_fit: NotRequired[float | None]


class Matched(TypedDict):
    """The candidate the numbers were matched to, and how many agreed."""

    candidate: str
    kind: str
    formula: str | None
    agree: int
    compared: int
    differences: list[Any]


BlockKind = Literal["summary", "answer sheet", "anova", "F tests", "fixef", "confint"]


class ModelGrade(TypedDict):
    """One graded model or test of a submission; the fields after ``part_of_assignment``
    belong to one kind of block each (a summary's formula and program, an anova()'s
    refit, a confint()'s method)."""

    label: str
    kind: BlockKind
    target: str
    target_title: str
    target_where: str
    target_formula: str | None
    confidence: str
    matched: Matched
    matches_known: bool
    diagnosis: Diagnosis | None
    also_consistent_with: list[str]
    names: dict[str, str]
    differences: list[Diagnosis]
    sample: str | None
    numbers: list[NumberGrade]
    ungraded: list[dict[str, str]]
    missing: list[str]
    part_of_assignment: bool
    submitted_formula: NotRequired[dict[str, str | None]]
    estimation: NotRequired[str | None]
    program: NotRequired[str]
    reading_notes: NotRequired[list[str]]
    their_model: NotRequired[dict[str, Any]]
    refitted_by_ml: NotRequired[bool]
    tested_data: NotRequired[dict[str, list[str]] | None]
    submitted_formulas: NotRequired[dict[str, dict[str, str | None]]]
    method: NotRequired[str]
    level: NotRequired[float | None]
    nsim: NotRequired[int | None]


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
    missing_required: int
    missing_weight: float
    expected: float
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

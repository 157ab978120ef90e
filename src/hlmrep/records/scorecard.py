"""The scorecard: every reference number beside ours, with its tolerance and verdict, and
the checksum of every results file it was built from (``scorecard``,
:mod:`hlmrep.replication.scorecard`); read by ``check`` and the report."""

from typing import Any, Literal, TypedDict

from hlmrep.records import RecordKind

Verdict = Literal["replicated", "differs (explained)", "reference disputed", "differs", "missing"]


class ScorecardRow(TypedDict):
    """One reference number (:class:`hlmrep.replication.scorecard.Row`): a number, or a
    list of them (a range); ``ours`` is null and the reference a word where a results file
    that should hold the number is missing."""

    id: str
    source: Literal["textbook", "vignette"]
    section: str
    quantity: str
    reference: float | list[float] | str
    ours: float | list[float] | None
    difference: float | None
    tolerance: float | None
    tolerance_rule: str
    status: Literal["agreed", "disputed", "seed"]
    verdict: Verdict
    explanation: str


class ScorecardSummary(TypedDict):
    rows: int
    counts: dict[str, int]
    #: the rows that should replicate and do not: ``check`` fails on them
    failing: list[str]
    differences: list[str]


class Scorecard(TypedDict):
    summary: ScorecardSummary
    #: the SHA-256 of every results file read, by path relative to the scorecard's folder
    inputs: dict[str, str]
    rows: list[ScorecardRow]


def _has_rows(scorecard: dict[str, Any]) -> list[str]:
    return [] if scorecard["rows"] else ["rows: no rows of numbers"]


SCORECARD = RecordKind(
    Scorecard,
    "scorecard",
    "scorecard",
    check=_has_rows,
)

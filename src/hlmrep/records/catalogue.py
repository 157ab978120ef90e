"""The grading catalogue: every reference model and LRT of the assignment, and every
catalogued mistake, fitted once by the engine (``grading_catalogue``); read by each
grading job, which fits nothing itself.

Each model or LRT entry lists its candidates (the optimum, lme4's default stop, the
printed numbers, each mistake's fit) with their numbers under quantity ids; the ``optimum``
candidate is the one every number is graded against, so an entry without it is refused.
"""

from typing import Any, NotRequired, TypedDict

from hlmrep.records import RecordKind


class Candidate(TypedDict):
    id: str
    kind: str
    mistake: str | None
    values: dict[str, float | None]
    formula: NotRequired[str]
    estimation: NotRequired[str]
    fixed_terms: NotRequired[list[str]]
    #: the fixed terms an F table tests (``sector`` for ``sectorCatholic``), in order
    tested_terms: NotRequired[list[str]]
    random_groups: NotRequired[list[Any]]
    n_obs: NotRequired[int]
    n_groups: NotRequired[int]
    npar: NotRequired[int]
    verified: NotRequired[bool]
    refit: NotRequired[bool]
    digits: NotRequired[dict[str, Any]]
    mistakes: NotRequired[list[str]]  # a combination's (grading.combinations), never stored
    bounds: NotRequired[dict[str, Any]]


class Entry(TypedDict):
    """A reference model or LRT: where the book or the vignette prints it, and its fits."""

    title: str
    where: str
    source: str
    printed: Any
    symbols: Any
    candidates: list[Candidate]
    formula: NotRequired[str]
    stars: NotRequired[bool]


class Mistake(TypedDict):
    title: str
    explanation: str
    fix: str
    kind: str


class Subset(TypedDict):
    """A sample other than the whole of HSB (a school left out, one sector alone)."""

    description: str
    n_obs: int
    n_groups: int


class SampleSize(TypedDict):
    n_obs: int
    n_groups: int
    mean_ses: float
    subsets: NotRequired[list[Subset]]


class Catalogue(TypedDict):
    data: SampleSize
    models: dict[str, Entry]
    lrts: dict[str, Entry]
    mistakes: dict[str, Mistake]


def _gradeable(catalogue: dict[str, Any]) -> list[str]:
    """Three tables of entries, and an optimum candidate in every model and LRT entry."""
    problems = [
        f"{table}: no entries" for table in ("models", "lrts", "mistakes") if not catalogue[table]
    ]
    for table in ("models", "lrts"):
        for name, entry in catalogue[table].items():
            if not any(candidate["id"] == "optimum" for candidate in entry["candidates"]):
                problems.append(f"{table}.{name}: no optimum candidate")
    return problems


CATALOGUE = RecordKind(
    Catalogue,
    "grading catalogue",
    "grading-catalogue",
    final_newline=True,
    check=_gradeable,
)

"""The comparison record: a likelihood-ratio test of two fits, as R's ``anova()`` prints
it (``compare_models``); read by the bootstrap's test targets, the scorecard and the report."""

from typing import Any, Literal, NotRequired, TypedDict

from hlmrep.records import RecordKind


class AnovaRow(TypedDict):
    """A line of anova()'s table; the fuller model's also has Chisq, Df and Pr(>Chisq)."""

    model: str
    npar: int
    AIC: float
    BIC: float
    logLik: float
    deviance: float


class ComparisonRecord(TypedDict):
    name: str
    test: Literal["fixed", "random"]
    estimation: Literal["REML", "ML"]
    reduced: str
    full: str
    reduced_formula: str
    full_formula: str
    chisq: float
    criterion_difference: float
    df: int
    p_value: float
    table: list[AnovaRow]
    notes: list[str]
    refits: dict[str, Any]
    p_value_boundary_mixture: NotRequired[float | None]


COMPARISON = RecordKind(
    ComparisonRecord,
    "comparison record",
    "compare",
)

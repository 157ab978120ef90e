"""The bootstrap summary record: percentile intervals (a ``confint`` target) or the
bootstrap p-value of a comparison (an ``lrt`` target), with Monte-Carlo errors
(``bootstrap_gather``); read by the scorecard and the report."""

from typing import Literal, NotRequired, TypedDict

from hlmrep.records import RecordKind


class PercentileInterval(TypedDict):
    lower: float
    upper: float
    lower_mc_se: float
    upper_mc_se: float
    mean: float
    sd: float


class BootstrapSummary(TypedDict):
    name: str
    kind: Literal["confint", "lrt"]
    nsim: int
    converged: int
    verified: int
    # An interval target:
    level: NotRequired[float]
    singular: NotRequired[int]
    model: NotRequired[str]
    intervals: NotRequired[dict[str, PercentileInterval]]
    # A test target:
    comparison: NotRequired[str]
    estimation: NotRequired[Literal["REML", "ML"]]
    lrt: NotRequired[float]
    df: NotRequired[int]
    extremes: NotRequired[int]
    p_value: NotRequired[float]
    p_value_mc_se: NotRequired[float]
    p_value_pbkrtest: NotRequired[float]
    positive_replicates: NotRequired[int]
    p_value_chisq: NotRequired[float]
    singular_reduced: NotRequired[int]
    singular_full: NotRequired[int]


_OF_KIND = {
    "confint": ("level", "model", "intervals"),
    "lrt": ("comparison", "lrt", "df", "p_value", "p_value_chisq"),
}


def _fields_of_its_kind(summary: dict[str, object]) -> list[str]:
    return [
        f"the field {key!r} of a {summary['kind']} summary is missing"
        for key in _OF_KIND[str(summary["kind"])]
        if key not in summary
    ]


BOOTSTRAP_SUMMARY = RecordKind(
    BootstrapSummary,
    "bootstrap summary",
    "bootstrap-gather",
    check=_fields_of_its_kind,
)

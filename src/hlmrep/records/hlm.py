"""The HLM statistics record: the textbook's statistics of one configured model that the
fit does not report (``fit_model``, :func:`hlmrep.models.school_statistics.hlm_statistics`):
HLM's χ² homogeneity test and the reliability of each random coefficient, the ICC and the
plausible-value range; read by the scorecard and the report."""

from typing import TypedDict

from hlmrep.records import RecordKind


class HomogeneityTest(TypedDict):
    """HLM's χ² test that a random coefficient's variance is zero (pp. 63–64)."""

    chisq: float
    df: int
    p_value: float
    schools_used: int
    level2_fixed_effects: int


class HlmStatistics(TypedDict):
    """What :func:`~hlmrep.models.school_statistics.hlm_statistics` computes; the χ² tests
    and the reliabilities are keyed by random term (``(Intercept)``, ``cses``)."""

    model_formula: str
    chisq_homogeneity: dict[str, HomogeneityTest]
    reliability: dict[str, float]
    #: of a random-intercept model only
    icc: float | None
    #: γ00 ± 1.96 √τ00, where the model has a fixed and a random intercept
    plausible_value_range_95: list[float] | None
    schools_with_ols: int
    schools: int


class HlmRecord(HlmStatistics):
    """The statistics under the configured model's name."""

    name: str


HLM = RecordKind(
    HlmRecord,
    "record of HLM statistics",
    "fit-model",
)

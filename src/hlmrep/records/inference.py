"""The inference record: what a grader checks one configured model's printout against
(``model_inference``, :func:`hlmrep.models.inference.inference_record`): lme4's profile and
Wald intervals, robust, CR2, Satterthwaite and Kenward-Roger rows of the fixed effects,
lmerTest's type III F tests and ``ranova()``, each table also as R prints it; read by the
report."""

from typing import Literal, TypedDict

from hlmrep.records import RecordKind


class Interval(TypedDict):
    """A row of ``confint()``; a limit lme4 prints as NA is null."""

    parameter: str
    meaning: str
    estimate: float
    lower: float | None
    upper: float | None


class Intervals(TypedDict):
    method: str
    level: float
    #: the fit the intervals are of: "ML" for a profile, the fit's estimation for Wald
    basis: str
    rows: list[Interval]
    notes: list[str]
    evaluations: int


class FixedEffectInference(TypedDict):
    """One fixed effect; the Kenward-Roger fields are null for an ML fit."""

    term: str
    estimate: float
    std_error: float
    robust_std_error: float
    hlm_df: int
    satterthwaite_df: float
    t_value: float
    satterthwaite_p_value: float
    cr2_std_error: float
    cr2_df: float
    cr2_p_value: float
    kenward_roger_std_error: float | None
    kenward_roger_df: float | None
    kenward_roger_p_value: float | None


class FTest(TypedDict):
    term: str
    sum_sq: float
    mean_sq: float
    num_df: int
    den_df: float
    f_value: float
    p_value: float


class FTable(TypedDict):
    type: int
    method: str
    rows: list[FTest]


class RanovaRow(TypedDict):
    """The model (``<none>``, its test fields null) or one reduction of it."""

    term: str
    npar: int
    loglik: float
    aic: float
    lrt: float | None
    df: int | None
    p_value: float | None


class Ranova(TypedDict):
    model: str
    rows: list[RanovaRow]


class InferenceRecord(TypedDict):
    name: str
    formula: str
    estimation: Literal["REML", "ML"]
    confint_profile: Intervals
    confint_wald: Intervals
    confint_profile_printed: str
    fixed_effects: list[FixedEffectInference]
    #: ``type3_satterthwaite``, and ``type3_kenward_roger`` for a REML fit
    anova: dict[str, FTable]
    anova_printed: dict[str, str]
    ranova: Ranova | None
    ranova_printed: str | None


INFERENCE = RecordKind(
    InferenceRecord,
    "model-inference record",
    "model-inference",
    final_newline=True,
)

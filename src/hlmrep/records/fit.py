"""The fit record: one configured model's fit (``fit_model``), read by every later stage.

What :meth:`hlmrep.engine.LmmResult.to_dict` writes, with lme4's names, plus the workflow's
additions (:func:`hlmrep.models.fits.fit_record`).  The optimizer report and the
conditional modes are the engine's to read back (:func:`hlmrep.engine.restore`): declared
here as objects, checked there.
"""

from typing import Any, Literal, NotRequired, TypedDict

from hlmrep.records import RecordKind


class FixedEffect(TypedDict):
    term: str
    estimate: float
    std_error: float
    t_value: float


class RandomCorrelation(TypedDict):
    term1: str
    term2: str
    correlation: float


class RandomEffects(TypedDict):
    group: str
    terms: list[str]
    variance: list[float]
    sd: list[float]
    covariance: list[list[float]]
    correlation: list[RandomCorrelation]


class DataFile(TypedDict):
    path: str
    sha256: str


class Lme4DefaultStop(TypedDict):
    """Where lme4's default optimizer run stopped: what plain ``lmer`` would print."""

    criterion: float
    singular: bool
    theta: list[float]
    at_optimum: bool


class FitRecord(TypedDict):
    formula: str
    estimation: Literal["REML", "ML"]
    covariance_structure: NotRequired[str]
    reference_levels: NotRequired[dict[str, str]]
    n_obs: int
    n_groups: int
    group: str
    criterion_name: str
    reml_criterion: float | None
    deviance: float | None
    logLik: float
    AIC: float
    BIC: float
    npar: int
    df_resid: int
    scaled_residuals: dict[str, float]
    fixed_effects: list[FixedEffect]
    vcov_fixed: list[list[float]]
    fixed_correlation: list[list[float]]
    random_effects: RandomEffects
    residual_variance: float
    sigma: float
    theta: list[float]
    singular: bool
    optimizer: dict[str, Any]
    conditional_modes: NotRequired[dict[str, Any]]
    name: str
    data: DataFile
    rows_sha256: str
    fixed_terms: list[str]
    lme4_default_stop: Lme4DefaultStop


def _criterion_present(record: dict[str, Any]) -> list[str]:
    """The criterion of the record's estimation is a number (the other one is null)."""
    key = "reml_criterion" if record["estimation"] == "REML" else "deviance"
    if record[key] is None:
        return [f"{key}: a {record['estimation']} fit's criterion is null"]
    return []


FIT = RecordKind(
    FitRecord,
    "fit record",
    "fit-model",
    check=_criterion_present,
)

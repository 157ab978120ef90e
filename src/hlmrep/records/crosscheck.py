"""The cross-check record: every configured model's fit beside lme4's, or why lme4 was not
run (``crosscheck``, :mod:`hlmrep.replication.crosscheck`); read by ``check`` and the report.

lme4's own fits (``results/lme4/``) are R's output, read where they are compared; what this
record keeps of them is the ``lme4`` summary of each model.
"""

from typing import Any, Literal, NotRequired, TypedDict

from hlmrep.records import RecordKind


class CrosscheckStatus(TypedDict):
    """The parse-time plan (:func:`hlmrep.replication.crosscheck.plan`): whether the lme4
    rules run and why; the versions when R was looked for and found."""

    mode: Literal["auto", "true", "false"]
    run: bool
    reason: str
    available: NotRequired[bool]
    r_version: NotRequired[str | None]
    lme4_version: NotRequired[str | None]


class Lme4Summary(TypedDict):
    """What the record keeps of lme4's fit: its versions (and its θ, logLik, AIC, BIC and
    σ, as R wrote them: not read, not checked)."""

    r_version: str | None
    lme4_version: str | None


class Agreement(TypedDict):
    """The largest differences from lme4's estimates, by kind; ``significant_digits`` is
    null where every estimate is identical."""

    max_relative_difference_fixed: float
    max_relative_difference_std_error: float
    max_relative_difference_variance: float
    max_absolute_difference_correlation: float
    significant_digits: float | None
    #: at lme4's θ only: lme4's criterion minus ours there
    criterion_difference: NotRequired[float]


class Parameter(TypedDict):
    """One estimate of both engines, keyed in the report by ``kind|parameter``."""

    kind: Literal["fixed effect", "standard error", "variance component", "correlation"]
    parameter: str
    ours: float
    lme4: float
    difference: float
    measure: Literal["relative", "absolute"]
    ours_at_lme4_theta: float


Verdict = Literal["agree", "lme4-not-optimal", "flat-optimum", "ours-not-optimal"]


class ModelAgreement(TypedDict):
    """One model's line (:func:`hlmrep.replication.crosscheck.compare_model`)."""

    lme4: Lme4Summary
    verdict: Verdict
    explanation: str
    criterion_name: str
    criterion_ours: float
    criterion_lme4: float
    criterion_difference: float
    criterion_gap_lme4_theta: float
    at_optimum: Agreement
    at_lme4_theta: Agreement
    singular_ours: bool
    singular_lme4: bool
    # (and lme4's convergence messages and function evaluations, as R wrote them)
    parameters: list[Parameter]


class CrosscheckRecord(TypedDict):
    status: CrosscheckStatus
    ran: bool
    models: dict[str, ModelAgreement]
    # When it ran:
    counts: NotRequired[dict[str, int]]
    r_version: NotRequired[str | None]
    lme4_version: NotRequired[str | None]


def _ran_with_its_counts(record: dict[str, Any]) -> list[str]:
    """A cross-check that ran counts its verdicts; one that did not has no models."""
    if record["ran"] and "counts" not in record:
        return ["counts: missing (a cross-check that ran counts its verdicts)"]
    if not record["ran"] and record["models"]:
        return ["models: a cross-check that did not run has none"]
    return []


CROSSCHECK = RecordKind(
    CrosscheckRecord,
    "cross-check record",
    "crosscheck",
    check=_ran_with_its_counts,
)

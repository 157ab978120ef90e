"""The inference a grader checks a model's printout against: profile and Wald intervals
(lme4's ``confint``), HLM's robust standard errors and clubSandwich's CR2, lmerTest's
Satterthwaite and Kenward-Roger df, lmerTest's type III F tests of the terms and its
``ranova()`` of the random terms.

One job per configured model reads its fit record, restores the fit at its θ̂ (checked, no
optimizer; :func:`hlmrep.engine.restore`) and writes one JSON file: every number under
lme4's or lmerTest's names, so that a student's ``confint(model3)``, an lmerTest summary
or HLM's "with robust standard errors" table can be set beside it number by number.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from hlmrep.data.tables import read_prepared
from hlmrep.engine import LmmResult, parse_formula, restore
from hlmrep.engine.summary import hlm_degrees_of_freedom
from hlmrep.records.fit import FIT
from hlmrep.records.inference import INFERENCE, FTable, InferenceRecord, Intervals, Ranova

if TYPE_CHECKING:
    import pandas as pd


def inference_record(
    result: LmmResult, name: str, data: pd.DataFrame | None = None
) -> InferenceRecord:
    """Profile and Wald intervals, robust SEs (CR0 and CR2), Satterthwaite and (for a REML
    fit) Kenward-Roger rows, and the type III F tests of one fit."""
    from hlmrep.engine.f_tests import anova
    from hlmrep.engine.kenward_roger import kenward_roger_table
    from hlmrep.engine.sandwich import cr2_table

    profile = result.confint("profile")
    wald = result.confint("Wald")
    robust = result.robust_standard_errors()
    satterthwaite = result.satterthwaite()
    hlm_df = hlm_degrees_of_freedom(result)
    _, cr2 = cr2_table(result)
    # Kenward-Roger is defined for REML fits only (as lmerTest and pbkrtest say).
    kr = kenward_roger_table(result) if result.reml else [None] * len(satterthwaite)
    tables = {"type3_satterthwaite": anova(result, 3, "satterthwaite")}
    random_table = None
    if data is not None:
        from hlmrep.engine.ranova import ranova

        random_table = ranova(result, data)
    if result.reml:
        tables["type3_kenward_roger"] = anova(result, 3, "kenward-roger")
    return {
        "name": name,
        "formula": result.formula,
        "estimation": "REML" if result.reml else "ML",
        # The engine's tables as dicts, of the record's types (checked before writing).
        "confint_profile": cast(Intervals, profile.to_dict()),
        "confint_wald": cast(Intervals, wald.to_dict()),
        "confint_profile_printed": profile.format(),
        "fixed_effects": [
            {
                "term": term,
                "estimate": float(result.beta[term]),
                "std_error": float(result.std_errors[term]),
                "robust_std_error": float(robust[term]),
                "hlm_df": int(df),
                "satterthwaite_df": row.df,
                "t_value": row.t_value,
                "satterthwaite_p_value": row.p_value,
                "cr2_std_error": robust2.std_error,
                "cr2_df": robust2.df,
                "cr2_p_value": robust2.p_value,
                "kenward_roger_std_error": None if small is None else small.std_error,
                "kenward_roger_df": None if small is None else small.df,
                "kenward_roger_p_value": None if small is None else small.p_value,
            }
            for term, row, df, robust2, small in zip(
                result.fixed_names, satterthwaite, hlm_df, cr2, kr, strict=True
            )
        ],
        "anova": {key: cast(FTable, table.to_dict()) for key, table in tables.items()},
        "anova_printed": {key: table.format() for key, table in tables.items()},
        "ranova": None if random_table is None else cast(Ranova, random_table.to_dict()),
        "ranova_printed": None if random_table is None else random_table.format(),
    }


def inference_job(*, data: Path, fit: Path, name: str, out: Path) -> InferenceRecord:
    """Profile and Wald intervals, robust SEs and Satterthwaite df of one configured model.

    The fit is restored from its record (``fit``) on the prepared table (``data``); the
    profile intervals are printed as lme4's ``confint`` prints them."""
    record = FIT.read(fit)
    table = read_prepared(Path(data), parse_formula(record["formula"]).columns)
    result = restore(record, table)
    inference = inference_record(result, name, table)
    INFERENCE.write(out, inference)
    print("Computing profile confidence intervals ...")
    print(inference["confint_profile_printed"])
    return inference

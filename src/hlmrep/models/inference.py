"""The inference a grader checks a model's printout against: profile and Wald intervals
(lme4's ``confint``), HLM's robust standard errors, lmerTest's Satterthwaite df.

One job per configured model reads its fit record, restores the fit at its θ̂ (checked, no
optimizer; :func:`hlmrep.engine.restore`) and writes one JSON file: every number under
lme4's or lmerTest's names, so that a student's ``confint(model3)``, an lmerTest summary
or HLM's "with robust standard errors" table can be set beside it number by number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hlmrep.data.tables import read_prepared
from hlmrep.engine import LmmResult, parse_formula, restore
from hlmrep.engine.summary import hlm_degrees_of_freedom
from hlmrep.files import write_atomically
from hlmrep.records.fit import FIT


def inference_record(result: LmmResult, name: str) -> dict[str, Any]:
    """Profile and Wald intervals, robust SEs and Satterthwaite rows of one fit."""
    profile = result.confint("profile")
    wald = result.confint("Wald")
    robust = result.robust_standard_errors()
    satterthwaite = result.satterthwaite()
    hlm_df = hlm_degrees_of_freedom(result)
    return {
        "name": name,
        "formula": result.formula,
        "estimation": result.specification.estimation,
        "confint_profile": profile.to_dict(),
        "confint_wald": wald.to_dict(),
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
            }
            for term, row, df in zip(result.fixed_names, satterthwaite, hlm_df, strict=True)
        ],
    }


def inference_job(*, data: Path, fit: Path, name: str, out: Path) -> dict[str, Any]:
    """Profile and Wald intervals, robust SEs and Satterthwaite df of one configured model.

    The fit is restored from its record (``fit``) on the prepared table (``data``); the
    profile intervals are printed as lme4's ``confint`` prints them."""
    record = FIT.read(fit)
    table = read_prepared(Path(data), parse_formula(record["formula"]).columns)
    result = restore(record, table)
    inference = inference_record(result, name)
    text = json.dumps(inference, indent=1) + "\n"
    write_atomically(Path(out), lambda p: p.write_text(text))
    print("Computing profile confidence intervals ...")
    print(inference["confint_profile_printed"])
    return inference

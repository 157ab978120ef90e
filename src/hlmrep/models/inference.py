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

from hlmrep.data import read_prepared
from hlmrep.engine import LmmResult, parse_formula, restore
from hlmrep.engine.summary import hlm_degrees_of_freedom
from hlmrep.files import read_json, write_atomically


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


def inference_job(data_path: Path, fit_path: Path, name: str, out: Path) -> dict[str, Any]:
    """Restore the fit from its record on the prepared data; write its inference record."""
    record = read_json(Path(fit_path))
    data = read_prepared(Path(data_path), parse_formula(record["formula"]).columns)
    result = restore(record, data)
    inference = inference_record(result, name)
    text = json.dumps(inference, indent=1) + "\n"
    write_atomically(Path(out), lambda p: p.write_text(text))
    return inference

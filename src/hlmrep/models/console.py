"""``python -m hlmrep fit DATA FORMULA``: fit any lme4-style formula to a CSV file.

The engine's fit printed as lme4's ``summary()`` prints it, and on request the inference
graders check against: profile, Wald or bootstrap intervals (lme4's ``confint``), HLM's robust
standard errors (CR0) or clubSandwich's CR2, lmerTest's Satterthwaite or Kenward-Roger df,
lmerTest's type I or III F tests and ``ranova()``.  ``--json`` records every estimate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hlmrep.data.inputs import read_data_file
from hlmrep.engine import LmmResult, fit
from hlmrep.engine.summary import (
    format_cr2,
    format_kenward_roger,
    format_robust,
    format_satterthwaite,
)
from hlmrep.errors import HlmrepError
from hlmrep.files import write_atomically

if TYPE_CHECKING:
    import pandas as pd


def _inference(
    result: LmmResult,
    confint: str | None,
    level: float,
    robust: str | None,
    df: str | None,
    anova_type: int | None = None,
    nsim: int = 500,
    seed: int = 1,
    ranova_data: pd.DataFrame | None = None,
) -> dict[str, object]:
    """What ``--confint / --robust / --df / --anova`` add: printed after the summary, and
    recorded."""
    added: dict[str, object] = {}
    if df == "satterthwaite":
        print()
        print(format_satterthwaite(result))
        added["satterthwaite"] = [row.to_dict() for row in result.satterthwaite()]
    if df == "kenward-roger":
        from hlmrep.engine.kenward_roger import kenward_roger_table

        print()
        print(format_kenward_roger(result))
        added["kenward_roger"] = [row.to_dict() for row in kenward_roger_table(result)]
    if ranova_data is not None:
        from hlmrep.engine.ranova import ranova

        random_table = ranova(result, ranova_data)
        print()
        print(random_table.format())
        added["ranova"] = random_table.to_dict()
    if anova_type is not None:
        from hlmrep.engine.f_tests import anova

        table = anova(result, anova_type, df or "satterthwaite")
        print()
        print(table.format())
        added["anova"] = table.to_dict()
    if robust == "cr0":
        print()
        print(format_robust(result))
        added["robust_std_errors"] = dict(result.robust_standard_errors().items())
    if robust == "cr2":
        from hlmrep.engine.sandwich import cr2_table

        print()
        print(format_cr2(result))
        vcov, rows = cr2_table(result)
        added["robust_cr2"] = {
            "vcov": vcov.tolist(),
            "rows": [row.to_dict() for row in rows],
        }
    if confint == "boot":
        from hlmrep.bootstrap.summary import bootstrap_intervals

        print()
        print("Computing bootstrap confidence intervals ...")
        intervals = bootstrap_intervals(result, nsim, seed, level)
        print(intervals.format())
        for note in intervals.notes:
            print(f"  note: {note}")
        added["confint"] = intervals.to_dict()
    elif confint:
        method = "profile" if confint == "profile" else "Wald"
        print()
        if method == "profile":
            print("Computing profile confidence intervals ...")
        intervals = result.confint(method, level)
        print(intervals.format())
        for note in intervals.notes:
            print(f"  note: {note}")
        added["confint"] = intervals.to_dict()
    return added


def fit_command(
    data: Path,
    formula: str,
    *,
    ml: bool = False,
    reference_levels: dict[str, str] | None = None,
    json_path: Path | None = None,
    confint: str | None = None,
    level: float = 0.95,
    robust: str | bool | None = None,
    df: str | None = None,
    anova_type: int | None = None,
    nsim: int = 500,
    seed: int = 1,
    ranova: bool = False,
) -> int:
    """Fit, print, and optionally record; 0 on success (errors raise with a message)."""
    if df == "kenward-roger" and ml:
        raise HlmrepError(
            "--df kenward-roger: Kenward-Roger's method is defined for REML fits (as "
            "lmerTest says); drop --ml"
        )
    table = read_data_file(Path(data))
    result = fit(formula, table, reml=not ml, reference_levels=reference_levels or {})
    print(result.summary())
    record: dict[str, Any] = result.to_dict()
    kind = "cr0" if robust is True else (robust or None)
    record.update(
        _inference(
            result, confint, level, kind, df, anova_type, nsim, seed, table if ranova else None
        )
    )
    if json_path is not None:
        text = json.dumps(record, indent=1) + "\n"
        try:
            write_atomically(Path(json_path), lambda p: p.write_text(text))
        except OSError as error:
            raise HlmrepError(
                f"--json {json_path}: cannot be written ({error.strerror}); nothing was written"
            ) from error
    return 0

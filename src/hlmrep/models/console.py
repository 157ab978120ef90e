"""``python -m hlmrep fit DATA FORMULA``: fit any lme4-style formula to a CSV file.

The engine's fit printed as lme4's ``summary()`` prints it, and on request the inference
graders check against: profile or Wald intervals (lme4's ``confint``), HLM's robust
standard errors, lmerTest's Satterthwaite df.  ``--json`` records every estimate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hlmrep.data.inputs import read_data_file
from hlmrep.engine import LmmResult, fit
from hlmrep.engine.summary import format_robust, format_satterthwaite
from hlmrep.errors import HlmrepError
from hlmrep.files import write_atomically


def _inference(
    result: LmmResult, confint: str | None, level: float, robust: bool, df: str | None
) -> dict[str, object]:
    """What ``--confint / --robust / --df`` add: printed after the summary, recorded."""
    added: dict[str, object] = {}
    if df == "satterthwaite":
        print()
        print(format_satterthwaite(result))
        added["satterthwaite"] = [row.to_dict() for row in result.satterthwaite()]
    if robust:
        print()
        print(format_robust(result))
        added["robust_std_errors"] = dict(result.robust_standard_errors().items())
    if confint:
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
    robust: bool = False,
    df: str | None = None,
) -> int:
    """Fit, print, and optionally record; 0 on success (errors raise with a message)."""
    table = read_data_file(Path(data))
    result = fit(formula, table, reml=not ml, reference_levels=reference_levels or {})
    print(result.summary())
    record: dict[str, Any] = result.to_dict()
    record.update(_inference(result, confint, level, robust, df))
    if json_path is not None:
        text = json.dumps(record, indent=1) + "\n"
        try:
            write_atomically(Path(json_path), lambda p: p.write_text(text))
        except OSError as error:
            raise HlmrepError(
                f"--json {json_path}: cannot be written ({error.strerror}); nothing was written"
            ) from error
    return 0

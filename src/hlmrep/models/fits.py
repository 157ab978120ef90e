"""The model stage's job: fit one configured model (its record, school table, HLM statistics).

Each job reads the prepared table and writes tidy files under ``results/``; the report
reads those files and never refits.  Files are written only when the whole job succeeded.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np

from hlmrep.data.tables import read_prepared
from hlmrep.engine import LmmResult, fit, parse_formula
from hlmrep.engine.model import rows_fingerprint
from hlmrep.files import sha256, write_atomically, write_columns_csv
from hlmrep.models.school_statistics import hlm_statistics
from hlmrep.records.fit import FIT, FitRecord
from hlmrep.records.hlm import HLM, HlmRecord


def fit_record(result: LmmResult, name: str, data_path: Path) -> FitRecord:
    """Everything the engine reports, plus what the comparisons and report need to know."""
    record = cast(FitRecord, result.to_dict())
    lme4_stop = result.lme4_default_run()
    record.update(
        {
            "name": name,
            "data": {"path": str(data_path), "sha256": sha256(Path(data_path))},
            "rows_sha256": rows_fingerprint(result),
            "fixed_terms": result.fixed_names,
            # Where BOBYQA with lme4's default settings from lme4's start stopped: what plain
            # lmer would print.  Equal to the optimum unless the optimizer report says not.
            "lme4_default_stop": {
                "criterion": lme4_stop.criterion,
                "singular": lme4_stop.singular,
                "theta": [float(v) for v in lme4_stop.theta],
                "at_optimum": bool(
                    lme4_stop.criterion - result.criterion < result.control.lme4_stop_tol
                ),
            },
        }
    )
    return record


def fit_model_job(
    *,
    data: Path,
    name: str,
    formula: str,
    ml: bool = False,
    out_fit: Path,
    out_schools: Path,
    out_hlm: Path,
    out_observations: Path | None = None,
) -> LmmResult:
    """Fit one configured model: its fit record, per-school table and HLM statistics.

    Also the fitted values and residuals of every row used (``out_observations``, for the
    diagnostic figures).  REML unless ``ml``; the summary is printed as lme4 prints it."""
    data_path = data
    # Only the columns the formula reads (a tenth of the parsing at 140 times HSB).
    table = read_prepared(data_path, parse_formula(formula).columns)
    result = fit(formula, table, reml=not ml)
    record = fit_record(result, name, data_path)
    statistics, schools = hlm_statistics(result)
    hlm: HlmRecord = {**statistics, "name": name}
    write_atomically(Path(out_schools), lambda p: schools.to_csv(p, index=False))
    HLM.write(out_hlm, hlm)
    if out_observations is not None:
        d = result.design
        observations = {
            "row": np.asarray(d.row_index),
            d.group: np.asarray(d.group_levels, dtype=object)[d.group_index],
            "fitted": result.fitted,
            "residual": result.residuals,
            "scaled_residual": result.residuals / result.sigma,
        }
        write_atomically(
            Path(out_observations),
            lambda p: write_columns_csv(p, observations, float_format="%.10g"),
        )
    FIT.write(out_fit, record)
    print(result.summary())
    return result

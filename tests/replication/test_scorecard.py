"""The scorecard's verdict logic on made-up numbers, and `check` on a tampered result."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import results_keys
from hlmrep.replication.reference import rounding_tolerance
from hlmrep.replication.scorecard import DIFFERS, DISPUTED, EXPLAINED, MISSING, REPLICATED, judge

NOTES = {"seed.models.model3a.*": "not the optimum (test_x)"}


def test_just_inside_and_just_outside_the_rounding_tolerance():
    tol = rounding_tolerance(2)  # printed 12.64: [12.635, 12.645]
    assert judge("t.a", 12.6449, 12.64, tol, "agreed", {})[0] == REPLICATED
    assert judge("t.a", 12.6351, 12.64, tol, "agreed", {})[0] == REPLICATED
    verdict, difference, _ = judge("t.a", 12.6451, 12.64, tol, "agreed", {})
    assert verdict == DIFFERS and difference == pytest.approx(0.0051)
    assert judge("t.a", 12.6349, 12.64, tol, "agreed", {})[0] == DIFFERS


def test_disputed_missing_and_explained():
    verdict, _, why = judge("t.r", 0.26, 0.23, rounding_tolerance(2), "disputed", {}, "REML .26")
    assert (verdict, why) == (DISPUTED, "REML .26")
    assert judge("t.r", 0.23, 0.23, rounding_tolerance(2), "disputed", {})[0] == REPLICATED
    assert judge("t.m", None, 1.0, 0.1, "agreed", {})[0] == MISSING
    assert judge("t.m", float("nan"), 1.0, 0.1, "agreed", {})[0] == MISSING
    verdict, _, why = judge("seed.models.model3a.x", 2.0, 1.0, 0.1, "seed", NOTES)
    assert verdict == EXPLAINED and "not the optimum" in why
    # An explanation never excuses a row it does not name.
    assert judge("seed.models.model3.x", 2.0, 1.0, 0.1, "seed", NOTES)[0] == DIFFERS


def test_lists_compare_elementwise():
    tol = rounding_tolerance(2)
    assert judge("t.l", [6.884, 18.389], [6.88, 18.39], tol, "agreed", {})[0] == REPLICATED
    assert judge("t.l", [6.884, 18.40], [6.88, 18.39], tol, "agreed", {})[0] == DIFFERS


def test_pipeline_scorecard_has_every_reference_number(pipeline):
    payload = json.loads((pipeline / "reports/scorecard.json").read_text())
    rows = {row["id"]: row for row in payload["rows"]}
    from hlmrep.replication.reference import load

    for table, spec in load("textbook_ch4")["tables"].items():
        for key in spec["values"]:
            assert f"textbook.{table}.{key}" in rows
    assert payload["summary"]["failing"] == []
    assert rows["textbook.table_4_4.reliability_beta1"]["verdict"] == DISPUTED
    assert rows["seed.models.model3a.reml_criterion"]["verdict"] == EXPLAINED
    assert rows["seed.lrt.parametric_bootstrap_minority.pb_p_value"]["verdict"] == REPLICATED
    assert rows["seed.models.model3.bootstrap_ci..sig01.lower"]["tolerance_rule"].startswith(
        "Monte Carlo"
    )
    csv = (pipeline / "reports/scorecard.csv").read_text().splitlines()
    assert len(csv) == len(payload["rows"]) + 1


def _keyed(results: Path) -> list[str]:
    return [f"--input={key}={path}" for key, path in results_keys(results).items()]


def _hlmrep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hlmrep", *args], capture_output=True, text=True)


def test_check_passes_then_fails_on_a_wrong_result(pipeline, tmp_path):
    assert _hlmrep("check", str(pipeline / "reports/scorecard.json")).returncode == 0
    results = tmp_path / "results"
    shutil.copytree(
        pipeline / "results",
        results,
        ignore=shutil.ignore_patterns("bootstrap*", "logs", "benchmarks"),
    )
    shutil.copytree(pipeline / "results/bootstrap", results / "bootstrap")
    fit = json.loads((results / "fits/model3.json").read_text())
    for row in fit["fixed_effects"]:
        if row["term"] == "cses":
            row["estimate"] += 0.01  # 2.2032: no longer 2.19 (Table 4.4) nor 2.1932
    (results / "fits/model3.json").write_text(json.dumps(fit))
    card = tmp_path / "scorecard.json"
    built = _hlmrep(
        "scorecard",
        *_keyed(results),
        "--out-json",
        str(card),
        "--out-csv",
        str(tmp_path / "scorecard.csv"),
    )
    assert built.returncode == 0, built.stderr
    done = _hlmrep("check", str(card))
    assert done.returncode == 1
    assert "textbook.table_4_4.gamma10" in done.stderr
    assert "seed.models.model3.fixed.cses.estimate" in done.stderr


def test_check_before_any_run_says_what_to_do(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "hlmrep", "check"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 1
    assert "scorecard reports/scorecard.json does not exist: run the workflow first" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


def test_check_refuses_a_stale_scorecard_and_jobs_name_a_truncated_file(pipeline, tmp_path):
    """A truncated fit file: `check` no longer passes on the old scorecard, and the job that
    reads the file names it instead of a JSONDecodeError traceback."""
    work = tmp_path / "copy"
    shutil.copytree(
        pipeline, work, ignore=shutil.ignore_patterns(".snakemake", "logs", "benchmarks")
    )
    assert _hlmrep("check", str(work / "reports/scorecard.json")).returncode == 0
    fit_path = work / "results/fits/model3.json"
    fit_path.write_text(fit_path.read_text()[:500])
    done = _hlmrep("check", str(work / "reports/scorecard.json"))
    assert done.returncode == 1
    assert "is out of date" in done.stderr and "fits/model3.json changed" in done.stderr
    rebuilt = _hlmrep(
        "scorecard",
        *_keyed(work / "results"),
        "--out-json",
        str(tmp_path / "card.json"),
        "--out-csv",
        str(tmp_path / "card.csv"),
    )
    assert rebuilt.returncode == 1
    assert f"fit record {fit_path} is not valid JSON (line" in rebuilt.stderr
    assert "delete it and rerun the workflow" in rebuilt.stderr
    assert "Traceback" not in rebuilt.stderr
    assert not (tmp_path / "card.json").exists()

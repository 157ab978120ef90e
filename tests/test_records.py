"""The typed records jobs hand each other: checked when read (an edited or truncated file is
refused with the file and the field named) and before they are written (a job that made a
record of the wrong shape writes nothing)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hlmrep.errors import InputDataError
from hlmrep.models.fits import fit_record
from hlmrep.records.bootstrap import BOOTSTRAP_SUMMARY
from hlmrep.records.catalogue import CATALOGUE
from hlmrep.records.fit import FIT


@pytest.fixture(scope="module")
def model3_record(fit_hsb, hsb, tmp_path_factory):
    table = tmp_path_factory.mktemp("records") / "hsb.csv"
    hsb.to_csv(table, index=False)
    return fit_record(fit_hsb("mathach ~ cses + (cses | school)"), "model3", table), table


def test_a_fit_record_reads_back_as_written(model3_record, tmp_path):
    record, _ = model3_record
    FIT.write(tmp_path / "model3.json", record)
    assert FIT.read(tmp_path / "model3.json") == json.loads(json.dumps(record))
    assert "reference_levels" not in record  # a field some records lack (NotRequired)


def test_an_edited_number_is_refused_naming_file_and_field(model3_record, tmp_path):
    record, _ = model3_record
    edited = copy.deepcopy(record)
    edited["fixed_effects"][1]["std_error"] = "0.13"  # quoted by hand in an editor
    del edited["theta"]
    path = tmp_path / "model3.json"
    path.write_text(json.dumps(edited))
    with pytest.raises(InputDataError) as raised:
        FIT.read(path)
    message = str(raised.value)
    assert message.startswith(f"fit record {path} does not hold what a fit record holds")
    assert "fixed_effects[1].std_error: expected a number, found a string" in message
    assert "theta: missing" in message
    assert message.endswith("delete it and rerun the workflow, which rebuilds it (job fit-model)")


def test_a_record_of_the_wrong_shape_is_never_written(model3_record, tmp_path):
    record, _ = model3_record
    broken = copy.deepcopy(record)
    broken["estimation"] = "Bayes"
    target = tmp_path / "model3.json"
    with pytest.raises(ValueError, match="job fit-model made a fit record of the wrong shape"):
        FIT.write(target, broken)
    assert not target.exists() and not list(tmp_path.iterdir())


def test_a_criterion_that_is_null_is_refused(model3_record, tmp_path):
    """What a type cannot say: a REML fit's REML criterion is a number."""
    record, _ = model3_record
    edited = copy.deepcopy(record)
    edited["reml_criterion"] = None
    (tmp_path / "f.json").write_text(json.dumps(edited))
    with pytest.raises(InputDataError, match="reml_criterion: a REML fit's criterion is null"):
        FIT.read(tmp_path / "f.json")


def test_a_job_given_an_edited_record_says_so_in_one_line(model3_record, tmp_path):
    """Through the job's command line: exit 1, one line, no traceback, nothing written."""
    record, table = model3_record
    edited = copy.deepcopy(record)
    edited["random_effects"]["terms"] = "(Intercept), cses"
    fit = tmp_path / "model3.json"
    fit.write_text(json.dumps(edited))
    out = tmp_path / "inference.json"
    done = subprocess.run(
        [sys.executable, "-m", "hlmrep", "model-inference", "--data", str(table), "--fit",
         str(fit), "--name", "model3", "--out", str(out)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: fit record {fit} does not hold what a fit record holds: "
        "random_effects.terms: expected a list, found a string; it was edited or written by "
        "another version: delete it and rerun the workflow, which rebuilds it (job fit-model)"
    ]
    assert not out.exists()


def test_a_bootstrap_summary_holds_the_fields_of_its_kind(tmp_path):
    summary = {"name": "pb", "kind": "lrt", "nsim": 10, "converged": 10, "verified": 10,
               "comparison": "c", "lrt": 3.2, "df": 1, "p_value_chisq": 0.07}  # fmt: skip
    path = Path(tmp_path / "summary.json")
    path.write_text(json.dumps(summary))
    with pytest.raises(InputDataError, match="the field 'p_value' of a lrt summary is missing"):
        BOOTSTRAP_SUMMARY.read(path)
    summary["p_value"] = 0.09
    path.write_text(json.dumps(summary))
    assert BOOTSTRAP_SUMMARY.read(path)["p_value"] == 0.09


def test_a_catalogue_entry_without_its_optimum_is_refused(grading_catalogue, tmp_path):
    catalogue = copy.deepcopy(grading_catalogue)
    entry = catalogue["models"]["model3"]
    entry["candidates"] = [c for c in entry["candidates"] if c["id"] != "optimum"]
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(catalogue))
    with pytest.raises(InputDataError, match=r"models\.model3: no optimum candidate"):
        CATALOGUE.read(path)

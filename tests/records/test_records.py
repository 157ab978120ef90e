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

from conftest import results_keys
from hlmrep.errors import InputDataError
from hlmrep.models.fits import fit_record
from hlmrep.records.bootstrap import BOOTSTRAP_SUMMARY
from hlmrep.records.catalogue import CATALOGUE
from hlmrep.records.crosscheck import CROSSCHECK
from hlmrep.records.data_summary import DATA_SUMMARY
from hlmrep.records.figure import FIGURE_CAPTION
from hlmrep.records.fit import FIT
from hlmrep.records.hlm import HLM
from hlmrep.records.inference import INFERENCE
from hlmrep.records.kernels import KERNELS
from hlmrep.records.scorecard import SCORECARD
from hlmrep.records.variance_explained import VARIANCE_EXPLAINED
from hlmrep.replication.textbook import record_kind
from hlmrep.report.html import REPORT_KINDS


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


# ----- the kinds of results file the scorecard, the report and `check` read --------------------


def _damage_hlm(record):
    record["chisq_homogeneity"]["cses"]["df"] = "159"
    return "chisq_homogeneity.cses.df: expected a whole number, found a string"


def _damage_inference(record):
    del record["confint_profile"]["rows"][0]["lower"]
    return "confint_profile.rows[0].lower: missing"


def _damage_variance_explained(record):
    record["model3_to_model3a"]["sigma2"] = "0.028"
    return "model3_to_model3a.sigma2: expected a number, found a string"


def _damage_data_summary(record):
    record["table_4_1"]["n_students"] = 7185.0
    return "table_4_1.n_students: expected a whole number, found a number"


def _damage_crosscheck(record):
    del record["status"]["reason"]
    return "status.reason: missing"


def _damage_scorecard(record):
    record["rows"][0]["verdict"] = "close enough"
    return "rows[0].verdict: expected 'replicated' or "


def _damage_caption(record):
    record["caption"] = None
    return "caption: expected a string, found null"


def _damage_kernels(record):
    record["kernels"] = "deviance"
    return "kernels: expected a list, found a string"


#: Each kind that was plain JSON before it was a record: a file of the default run, and an
#: edit that damages it with the problem it is refused for.
PIPELINE_FILES = {
    "hlm": (HLM, "results/hlm/model3.json", _damage_hlm),
    "inference": (INFERENCE, "results/inference/model3.json", _damage_inference),
    "variance_explained": (
        VARIANCE_EXPLAINED,
        "results/variance_explained.json",
        _damage_variance_explained,
    ),
    "data_summary": (DATA_SUMMARY, "results/data/summary.json", _damage_data_summary),
    "crosscheck": (CROSSCHECK, "results/crosscheck.json", _damage_crosscheck),
    "scorecard": (SCORECARD, "reports/scorecard.json", _damage_scorecard),
    "figure": (FIGURE_CAPTION, "results/figures/figure_4_1.json", _damage_caption),
    "kernels": (KERNELS, "results/kernels.json", _damage_kernels),
}


@pytest.mark.parametrize("kind", list(PIPELINE_FILES))
def test_a_results_file_of_the_pipeline_reads_back_and_is_written_byte_for_byte(pipeline, kind):
    record_kind, relative, _ = PIPELINE_FILES[kind]
    path = pipeline / relative
    record = record_kind.read(path)
    assert record == json.loads(path.read_text())
    assert record_kind.text(record) == path.read_text()  # the writer's layout is the file's


@pytest.mark.parametrize("kind", list(PIPELINE_FILES))
def test_a_damaged_results_file_is_refused_naming_file_and_field(pipeline, kind, tmp_path):
    record_kind, relative, damage = PIPELINE_FILES[kind]
    record = json.loads((pipeline / relative).read_text())
    problem = damage(record)
    path = tmp_path / Path(relative).name
    path.write_text(json.dumps(record))
    with pytest.raises(InputDataError) as raised:
        record_kind.read(path)
    message = str(raised.value)
    label = record_kind.label
    assert message.startswith(f"{label} {path} does not hold what a {label} holds: ")
    assert problem in message
    assert message.endswith(f"(job {record_kind.job})")


def test_every_results_key_of_the_scorecard_and_the_report_is_a_record_kind(pipeline):
    keys = results_keys(pipeline / "results")
    assert {record_kind(key).label for key in keys} == {
        "data summary", "fit record", "record of HLM statistics", "comparison record",
        "variance-explained table", "bootstrap summary",
    }  # fmt: skip
    for key in ("inference/model3", "scorecard", "crosscheck"):
        assert record_kind(key, REPORT_KINDS) in (INFERENCE, SCORECARD, CROSSCHECK)
    with pytest.raises(KeyError, match="names no record kind"):
        record_kind("inference/model3")  # the scorecard reads no inference


def test_a_cross_check_that_ran_counts_its_verdicts_and_one_that_did_not_has_no_models(
    tmp_path,
):
    off = {"status": {"mode": "false", "run": False, "reason": "switched off"}, "ran": False,
           "models": {}}  # fmt: skip
    path = tmp_path / "crosscheck.json"
    path.write_text(json.dumps({**off, "ran": True}))
    with pytest.raises(InputDataError, match="counts: missing"):
        CROSSCHECK.read(path)
    path.write_text(json.dumps(off))
    assert CROSSCHECK.read(path)["status"]["reason"] == "switched off"


def test_a_variance_explained_pair_names_its_two_models(tmp_path):
    table = {"pair": {"base": "model3", "model": 4, "sigma2": 0.03, "tau[cses]": 0.3}}
    path = tmp_path / "variance_explained.json"
    path.write_text(json.dumps(table))
    with pytest.raises(
        InputDataError, match=r"pair\.model: expected a model's name, found a number"
    ):
        VARIANCE_EXPLAINED.read(path)
    del table["pair"]["sigma2"]
    table["pair"]["model"] = "model3a"
    path.write_text(json.dumps(table))
    with pytest.raises(InputDataError, match=r"pair\.sigma2: missing"):
        VARIANCE_EXPLAINED.read(path)

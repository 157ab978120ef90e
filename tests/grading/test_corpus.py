"""The readers proven on real printouts: every file of the corpus reads to its manifest.

``tests/fixtures/grading/corpus/`` holds real printouts of mixed-model fits (HLM, SAS PROC
MIXED and NLMIXED, Stata, lme4, lmerTest, glmmTMB, statsmodels; many data sets), each copied
from a public page or repository named in its header, exactly as stored (collapsed
whitespace, flattened HTML tables, pages cut short), and ``manifest.yaml``: the numbers a
careful reader takes from each, as printed.  One test per file, through ``python -m hlmrep
read``'s neutral form: each number must be read into its place (a fixed effect's estimate
beside its own standard error and df, a variance as the random effect's variance, the log
likelihood as a fit statistic), equal to the printed value at its printed digits (half a
unit in its last printed place); n and J as printed, or reported as not printed; the
estimation as printed; an F table's every cell into its row and column, with the table's
type and df method.  The corpus's own check (``shared/corpus/check_corpus.py``) only
asks that each number appear somewhere in the JSON; this asks where.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hlmrep.grading import verdicts
from hlmrep.grading.neutral_form import neutral_form
from hlmrep.grading.submission import read

CORPUS = Path(__file__).parents[1] / "fixtures" / "grading" / "corpus"
MANIFEST: dict[str, dict[str, Any]] = yaml.safe_load((CORPUS / "manifest.yaml").read_text())[
    "files"
]


def _value(text: str) -> float:
    return float(text.replace("\u2212", "-").replace(",", ""))


def _tolerance(text: str) -> float:
    """Half a unit in the last printed place."""
    match = re.fullmatch(r"[-+]?[\d,]*\.?(\d*)([eE]([-+]?\d+))?", text.replace("\u2212", "-"))
    decimals = len(match.group(1)) if match else 0
    exponent = int(match.group(3)) if match and match.group(3) else 0
    return 0.5 * 10 ** (exponent - decimals) * 1.0001 + 1e-12


def _same(printed_text: str, number: dict[str, Any] | None) -> bool:
    if number is None:
        return False
    return abs(number["value"] - _value(printed_text)) <= _tolerance(printed_text)


def _numbers(block: Any) -> list[dict[str, Any]]:
    """Every number of a block of the neutral form."""
    if isinstance(block, dict):
        if "value" in block and "text" in block:
            return [block]
        return [n for value in block.values() for n in _numbers(value)]
    if isinstance(block, list):
        return [n for value in block for n in _numbers(value)]
    return []


def _point_decimals(value: Any) -> Any:
    """A manifest entry's numbers printed with decimal commas (``47116,793``, ``,244394``)
    written with points, for a file whose manifest says ``decimal: ","``."""
    if isinstance(value, dict):
        return {k: _point_decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_point_decimals(v) for v in value]
    if isinstance(value, str) and re.fullmatch(r"[-\u2212]?\d*,\d+", value):
        return value.replace(",", ".")
    return value


def _models(entry: dict[str, Any]) -> list[dict[str, Any]]:
    if entry.get("decimal") == ",":
        entry = _point_decimals(entry)
    if "models" in entry:
        return [{**entry, **model} for model in entry["models"].values()]
    return [entry]


def _check_model(expected: dict[str, Any], block: dict[str, Any]) -> list[str]:
    wrong: list[str] = []
    for term, numbers in (expected.get("fixed") or {}).items():
        se_key = "robust_se" if numbers.get("se_type") == "robust" else "std_error"
        found = [
            row
            for row in block["fixed"]
            if _same(numbers["est"], row["estimate"])
            and _same(numbers["se"], row[se_key] or row["std_error"])
            and ("df" not in numbers or _same(numbers["df"], row["df"]))
            and ("robust_se" not in numbers or _same(numbers["robust_se"], row["robust_se"]))
        ]
        if not found:
            wrong.append(f"fixed effect {term} {numbers}")
    for name, numbers in (expected.get("random") or {}).items():
        found = [
            effect
            for effect in block["random"]
            if ("var" not in numbers or _same(numbers["var"], effect["variance"]))
            and ("sd" not in numbers or _same(numbers["sd"], effect["sd"]))
        ]
        if not found:
            wrong.append(f"random effect {name} {numbers}")
    for key, field in (("cov", "covariances"), ("corr", "correlations")):
        for pair, text in (expected.get(key) or {}).items():
            if not any(_same(text, n) for effect in block["random"] for n in effect[field]):
                wrong.append(f"{key} {pair} {text}")
    residual = expected.get("residual") or {}
    for key, field in (("var", "variance"), ("sd", "sd")):
        if key in residual and not _same(residual[key], block["residual"][field]):
            wrong.append(f"residual {key} {residual[key]}")
    if "dispersion_sigma2" in residual and not any(
        _same(residual["dispersion_sigma2"], n) for n in _numbers(block)
    ):
        wrong.append(f"dispersion {residual['dispersion_sigma2']}")
    fit = [block["reml_criterion"], *block["fit_statistics"].values()]
    for key, text in (expected.get("fit") or {}).items():
        pool = fit if key != "n_params" else _numbers(block)
        if not any(_same(text, n) for n in pool):
            wrong.append(f"fit {key} {text}")
    if "n_obs" in expected:
        want = expected["n_obs"]
        got = block["n_obs"]
        if (want is None) != (got is None) or (want is not None and _value(want) != got):
            wrong.append(f"n_obs {want} (read {got})")
    if "n_groups" in expected:
        want = expected["n_groups"]
        got = list(block["groups"].values())
        if isinstance(want, dict):  # nested grouping: each level's count, by its name
            if {k: _value(v) for k, v in want.items()} != block["groups"]:
                wrong.append(f"n_groups {want} (read {block['groups']})")
        elif (want is None and got) or (want is not None and _value(want) not in got):
            wrong.append(f"n_groups {want} (read {got})")
    if "group" in expected:  # the grouping factor as printed: of n_groups and of the effects
        named = {*block["groups"], *(effect["group"] for effect in block["random"])}
        if named != {expected["group"]}:
            wrong.append(f"grouping factor {expected['group']} (read {sorted(named)})")
    if "df_method" in expected and block["df_method"] != DF_METHODS[expected["df_method"]]:
        wrong.append(f"t tests' df {expected['df_method']} (read {block['df_method']})")
    method = str(expected.get("method", ""))
    for word in ("REML", "ML"):
        if method.split(" ")[0] == word and block["estimation"] != word:
            wrong.append(f"method {word} (read {block['estimation']})")
    absent = " ".join(str(a) for a in expected.get("absent", []))
    if "truncated" in absent and not block["truncated"] and not block["not_read"]:
        wrong.append("a printout cut short, not said so")
    return wrong


#: The manifest's words for a test's df method, and the neutral form's.
DF_METHODS = {"Satterthwaite": "satterthwaite", "Kenward-Roger": "kenward_roger", "lme4": "lme4"}
#: What a manifest entry of a fitted model records (an F table alone records none of it).
FIT_KEYS = ("fixed", "random", "residual", "fit", "models")


def _check_f_tests(expected: dict[str, Any], blocks: list[dict[str, Any]]) -> list[str]:
    """An F table of the expected type and method whose every printed cell is read into
    its row and column, at its printed digits (a bound ``<.001`` as a bound)."""
    tables = [
        block
        for block in blocks
        if block["kind"] == "F tests"
        and block["method"] == DF_METHODS[expected["method"]]
        and (expected["type"] is None or block["type"] == expected["type"])
    ]
    if not tables:
        return [f"no {expected['method']} F table of type {expected['type']}"]
    problems = []
    for table in tables:
        rows = {row["term"]: row["values"] for row in table["rows"]}
        wrong = [f"not read: {line}" for line in table["unread"]]
        for term, cells in expected["rows"].items():
            for column, text in cells.items():
                number = rows.get(term, {}).get(column)
                bound = "<" if text.startswith("<") else ""
                if not _same(text.lstrip("<"), number) or (number or {}).get("bound", "") != bound:
                    wrong.append(f"F test {term} {column} {text} (read {number})")
        if len(rows) != len(expected["rows"]):
            wrong.append(f"{len(rows)} F tests read of {len(expected['rows'])}")
        problems.append(wrong)
    return min(problems, key=len)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_a_real_printout_reads_to_its_manifest(name: str) -> None:
    form = neutral_form(read(CORPUS / name))
    summaries = [block for block in form["blocks"] if block["kind"] == "summary"]
    entry = MANIFEST[name]
    models = _models(entry) if any(key in entry for key in FIT_KEYS) else []
    assert len(summaries) >= len(models), f"{len(summaries)} fits read of {len(models)}"
    wrong: list[str] = []
    if "f_tests" in entry:
        wrong += _check_f_tests(entry["f_tests"], form["blocks"])
    for expected in models:
        # a file's fits are in its order; each expected fit must be one read
        problems = [_check_model(expected, block) for block in summaries]
        best = min(problems, key=len)
        wrong += best
    assert not wrong, f"{name}: not read as printed: {wrong}"


GRADED = sorted(name for name, entry in MANIFEST.items() if "graded_as" in entry)


@pytest.mark.parametrize("name", GRADED)
def test_an_hsb_printout_is_graded_against_its_table(
    name: str, grading_catalogue: Any, hsb_table: Any
) -> None:
    """A real HSB printout graded as an instructor would: against the table it attempts (or
    that table's twin of the other source, model4 / Table 4.5), with the mistake it holds
    named, and, when it is a right fit, no major verdict; a model of no table (FEMALE's
    slope in HLM's manual) is shown, not graded."""
    from hlmrep.grading.grade import grade_file
    from hlmrep.grading.references import load

    expected = MANIFEST[name]["graded_as"]
    grade = grade_file(CORPUS / name, grading_catalogue, table=hsb_table)
    assert grade["status"] == "graded", grade["error"]
    summaries = [m for m in grade["models"] if m["kind"] == "summary"]
    assert summaries, f"{name}: no summary graded"
    model = summaries[0]
    if expected.get("part_of_assignment") is False:
        assert not model["part_of_assignment"], (name, model["target"])
        assert model["numbers"] == [] and model["diagnosis"] is None
        return
    assert model["part_of_assignment"]
    assert model["target"] in (expected["target"], load().twin(expected["target"])), name
    found = model["diagnosis"]["id"] if model["diagnosis"] else None
    assert found == expected["diagnosis"], (name, found, model.get("their_model"))
    if expected.get("correct"):
        major = [
            (n["id"], n["submitted"], n["optimum"])
            for n in model["numbers"]
            if n["verdict"] in (verdicts.MAJOR, verdicts.DECISION)
        ]
        assert not major, (name, major)
        assert model["confidence"] == "high"
    if "computation" in expected:
        assert model["their_model"]["computation"] == expected["computation"], name


def test_every_corpus_file_has_a_source_and_a_manifest_entry() -> None:
    files = sorted(path.name for path in CORPUS.glob("*.txt"))
    assert files == sorted(MANIFEST)
    for name in files:
        header = (CORPUS / name).read_text().splitlines()[:3]
        assert any(line.startswith("# source:") for line in header), name


def test_the_read_command_prints_each_number_with_its_line(tmp_path: Path) -> None:
    out = tmp_path / "read.json"
    name = "lmertest_achieve_ri.txt"
    result = subprocess.run(
        [sys.executable, "-m", "hlmrep", "read", str(CORPUS / name), "--json", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "fixed effects:" in result.stdout
    form = json.loads(out.read_text())
    lines = (CORPUS / name).read_text().splitlines()
    (summary,) = [block for block in form["blocks"] if block["kind"] == "summary"]
    for row in summary["fixed"]:
        estimate = row["estimate"]
        assert estimate["text"] in lines[estimate["line"] - 1]
        assert row["term"] in lines[estimate["line"] - 1]
        # the row's other cells on the estimate's own line (df 237.2588776 is printed once)
        for cell in ("std_error", "statistic", "df"):
            assert row[cell]["line"] == estimate["line"], (row["term"], cell)


def test_nothing_read_names_every_program_read(tmp_path: Path) -> None:
    path = tmp_path / "lm.txt"
    path.write_text(
        "Call:\nlm(formula = mathach ~ ses, data = hsb)\n\nCoefficients:\n"
        "            Estimate Std. Error t value Pr(>|t|)\n"
        "(Intercept) 12.74740    0.07569   168.4   <2e-16 ***\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "hlmrep", "read", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 2
    for program in ("lme4", "nlme", "statsmodels", "HLM", "Stata", "SAS", "SPSS", "glmmTMB"):
        assert program in result.stderr
    assert "lm()" in result.stderr  # what the file looks like

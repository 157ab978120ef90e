"""envs/hlmrep.yaml (conda, for --sdm conda) pins exactly what pyproject.toml pins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)\s*", requirement)
        assert match, f"not an exact pin: {requirement!r}"
        pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_conda_env_pins_equal_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "envs" / "hlmrep.yaml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert _pins(pip_section) == _pins(project["dependencies"])
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == "python=3.11"


def test_lock_file_holds_the_pinned_versions():
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"] if "version" in p}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for name, version in _pins(project["dependencies"]).items():
        assert locked[name] == version, (name, locked.get(name), version)


def _rule_blocks() -> dict[str, str]:
    """Each rule's text: its header and the indented lines under it."""
    blocks = {}
    for path in (ROOT / "workflow" / "rules").glob("*.smk"):
        current = None
        for line in path.read_text().splitlines():
            header = re.match(r"^rule (\w+):", line)
            if header:
                current = header.group(1)
                blocks[current] = ""
            elif current and line and not line.startswith(" "):
                current = None
            elif current:
                blocks[current] += line + "\n"
    return blocks


def test_every_rule_uses_the_conda_env_and_has_a_log():
    blocks = _rule_blocks()
    assert {"fit_model", "lme4_fit", "report", "bootstrap_chunk"} <= set(blocks)
    for name, block in blocks.items():
        assert "log:" in block, f"rule {name} has no log:"
        if "shell:" in block:
            # R's rule uses R's environment; every other rule the package's.
            env = "lme4.yaml" if "rscript" in block else "hlmrep.yaml"
            assert f'conda:\n        "../../envs/{env}"' in block, f"rule {name}: no conda:"


def test_r_environment_names_what_the_r_script_loads():
    env = yaml.safe_load((ROOT / "envs" / "lme4.yaml").read_text())
    script = (ROOT / "workflow" / "scripts" / "lme4_fit.R").read_text()
    loaded = set(re.findall(r"library\((\w+)\)", script))
    assert loaded == {"lme4", "jsonlite"}
    names = {dep.split("=")[0] for dep in env["dependencies"]}
    assert {"r-base"} | {f"r-{package}" for package in loaded} <= names

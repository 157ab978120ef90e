"""envs/hlmrep.yaml (conda, for --sdm conda) pins exactly what pyproject.toml pins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


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


def test_every_rule_uses_the_conda_env_and_has_a_log():
    rules = "\n".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    names = re.findall(r"^rule (\w+):", rules, flags=re.M)
    assert names
    for block in re.split(r"^rule ", rules, flags=re.M)[1:]:
        name = block.split(":", 1)[0]
        assert "log:" in block, f"rule {name} has no log:"
        if "shell:" in block:
            assert 'conda:\n        "../../envs/hlmrep.yaml"' in block, f"rule {name}: no conda:"

"""The kernels' cache is keyed by their source, not by the checkout: a fresh clone of the
same kernels loads what another checkout compiled (hlmrep.engine.kernel_cache)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hlmrep.engine import kernel_cache

ROOT = Path(__file__).resolve().parents[2]


def test_the_folder_is_named_by_the_source_not_its_place(tmp_path, monkeypatch):
    monkeypatch.setenv("HLMREP_KERNEL_CACHE", str(tmp_path / "cache"))
    here = kernel_cache.cache_folder()
    copy = tmp_path / "clone" / "kernel.py"
    copy.parent.mkdir()
    shutil.copy(kernel_cache.KERNEL_MODULE, copy)
    assert kernel_cache.cache_folder(copy) == here
    assert here.parent == tmp_path / "cache"
    copy.write_text(copy.read_text() + "\n# edited\n")
    assert kernel_cache.cache_folder(copy) != here


def test_the_cache_goes_under_the_users_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("HLMREP_KERNEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kernel_cache.cache_root() == tmp_path / "hlmrep" / "kernels"


def test_the_kernels_use_it_unless_numba_is_told_otherwise():
    from numba.core import caching

    from hlmrep.engine import kernel

    assert caching.CacheImpl._locator_classes[0] is kernel_cache.KernelCacheLocator
    locator = kernel.deviance._cache._impl._locator
    if os.environ.get("NUMBA_CACHE_DIR"):
        assert not isinstance(locator, kernel_cache.KernelCacheLocator)
    else:
        assert isinstance(locator, kernel_cache.KernelCacheLocator)
        assert Path(locator.get_cache_path()) == kernel_cache.cache_folder()


@pytest.mark.slow
def test_a_fresh_clone_loads_the_kernels_another_checkout_compiled(tmp_path):
    """Compile once in this checkout into an empty cache; a copy of src/ elsewhere (as a
    fresh clone has it, with new modification times) only loads them."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["HLMREP_KERNEL_CACHE"] = str(tmp_path / "cache")
    env["NUMBA_DEBUG_CACHE"] = "1"
    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "src", clone / "src", ignore=shutil.ignore_patterns("__pycache__"))
    runs = {}
    for name, src in (("first", ROOT / "src"), ("clone", clone / "src")):
        runs[name] = subprocess.run(
            [
                sys.executable,
                "-m",
                "hlmrep",
                "compile-kernels",
                "--out",
                str(tmp_path / f"{name}.json"),
            ],
            env={**env, "PYTHONPATH": str(src)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert runs[name].returncode == 0, runs[name].stderr[-2000:]
    assert "[cache] data saved to" in runs["first"].stdout + runs["first"].stderr
    loaded = runs["clone"].stdout + runs["clone"].stderr
    assert "[cache] data loaded from" in loaded
    assert "[cache] data saved to" not in loaded and "[cache] index saved" not in loaded

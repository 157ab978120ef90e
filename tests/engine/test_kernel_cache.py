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
    fresh clone has it, with new modification times) finds the cache filled (its
    compile-kernels job loads nothing and writes the same marker) and its fits only load
    the kernels."""
    from hlmrep.engine.warmup import _synthetic_data

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["HLMREP_KERNEL_CACHE"] = str(tmp_path / "cache")
    env["NUMBA_DEBUG_CACHE"] = "1"
    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "src", clone / "src", ignore=shutil.ignore_patterns("__pycache__"))
    _synthetic_data().to_csv(tmp_path / "data.csv", index=False)

    def hlmrep(src: Path, *arguments: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "hlmrep", *arguments],
            env={**env, "PYTHONPATH": str(src)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout + done.stderr

    first = hlmrep(ROOT / "src", "compile-kernels", "--out", str(tmp_path / "first.json"))
    assert "[cache] data saved to" in first
    again = hlmrep(clone / "src", "compile-kernels", "--out", str(tmp_path / "clone.json"))
    assert "kernels in the cache" in again and "[cache]" not in again
    assert (tmp_path / "clone.json").read_bytes() == (tmp_path / "first.json").read_bytes()
    fitted = hlmrep(clone / "src", "fit", str(tmp_path / "data.csv"), "y ~ x + (x | g)")
    assert "[cache] data loaded from" in fitted
    assert "[cache] data saved to" not in fitted and "[cache] index saved" not in fitted


def test_a_cache_is_warm_only_when_a_whole_warm_up_filled_it(tmp_path, monkeypatch):
    """The compile_kernels job's quick answer: the warm-up's mark, for this numba, this
    interpreter and this CPU target, and every kernel's index still in the folder."""
    monkeypatch.setenv("HLMREP_KERNEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(kernel_cache.numba_config, "CACHE_DIR", "", raising=False)
    folder = kernel_cache.cache_folder()
    folder.mkdir(parents=True)
    assert kernel_cache.warmed_kernels() is None  # empty
    names = ["deviance", "deviance_at_sigma", "newton_minimize"]
    for name in ("deviance", "newton_minimize"):  # the kernels a warm-up calls
        (folder / f"kernel.{name}-10.py311.nbi").write_bytes(b"index")
    assert kernel_cache.warmed_kernels() is None  # indexes, but no warm-up said so
    kernel_cache.mark_warmed(names)
    assert kernel_cache.warmed_kernels() == names
    (folder / "kernel.deviance-10.py311.nbi").unlink()
    assert kernel_cache.warmed_kernels() is None  # a kernel's index gone
    (folder / "kernel.deviance-10.py311.nbi").write_bytes(b"index")
    monkeypatch.setattr(kernel_cache.numba_config, "CPU_NAME", "skylake-avx512", raising=False)
    assert kernel_cache.warmed_kernels() is None  # filled for another CPU target
    monkeypatch.undo()
    monkeypatch.setenv("HLMREP_KERNEL_CACHE", str(tmp_path / "cache"))
    (folder / kernel_cache.WARMED_FILE).write_text("{damaged")
    assert kernel_cache.warmed_kernels() is None

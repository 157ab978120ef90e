"""Where numba keeps the compiled kernels: one cache per machine, not per checkout.

numba's default keeps a module's machine code in the ``__pycache__`` beside it, so every
fresh clone compiles the kernels again (about 10 s of a cold run). The code is keyed by
what it was compiled from, not by where the checkout is: numba's index holds the SHA-256
of the module's source and, per entry, the argument types and the processor (its name
and features: a cluster node of another CPU compiles its own, and results stay those of
one code path, :mod:`hlmrep.code_paths`). So the kernels' cache can live in the user's
cache folder, in a subfolder named by the source's hash and numba's version, and every
checkout of the same kernels on the machine (a fresh clone, another branch, the
benchmark's clones, a cluster node sharing the home folder) loads it instead of
compiling.

``NUMBA_CACHE_DIR``, when set, wins (numba's own rule, as the tests use it for an empty
cache); ``HLMREP_KERNEL_CACHE`` names the folder instead of ``$XDG_CACHE_HOME/hlmrep`` or
``~/.cache/hlmrep``; a folder that cannot be written falls back to numba's default.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numba
from numba.core import caching
from numba.core import config as numba_config

#: The module whose kernels this cache holds (the one that installs it).
KERNEL_MODULE = Path(__file__).with_name("kernel.py")


def cache_root() -> Path:
    """The folder that holds the kernels of every version, one subfolder each."""
    named = os.environ.get("HLMREP_KERNEL_CACHE")
    if named:
        return Path(named)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hlmrep" / "kernels"


def cache_folder(source: Path = KERNEL_MODULE) -> Path:
    """The kernels' folder: named by numba's version and the source's SHA-256, so that two
    versions of the kernels on one machine never overwrite each other's index."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    return cache_root() / f"numba-{numba.__version__}-{digest}"


class KernelCacheLocator(caching.UserProvidedCacheLocator):
    """numba's locator for a user-given folder, given :func:`cache_folder` for the kernels'
    module (any other module: not this locator's)."""

    def __init__(self, py_func: Any, py_file: str) -> None:
        super().__init__(py_func, py_file)
        self._cache_path = str(cache_folder(Path(py_file)))

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> KernelCacheLocator | None:
        if getattr(numba_config, "CACHE_DIR", "") or not _is_kernel_module(py_file):
            return None
        located = cls(py_func, py_file)
        try:
            located.ensure_cache_path()
        except OSError:  # the folder cannot be made or written: numba's default
            return None
        return located


def _is_kernel_module(py_file: str) -> bool:
    try:
        return Path(py_file).resolve() == KERNEL_MODULE.resolve()
    except OSError:
        return False


def install() -> None:
    """Put the locator first among numba's, once (before the kernels are decorated)."""
    locators = caching.CacheImpl._locator_classes
    if KernelCacheLocator not in locators:
        locators.insert(0, KernelCacheLocator)


#: The file, in the kernels' folder, that says a whole warm-up filled it (see below).
WARMED_FILE = "warmed.json"


def _warmed_stamp() -> dict[str, str]:
    """What a filled cache was filled for, beyond the kernels' source its folder names:
    numba (its folder names it too), the interpreter, and the CPU target (pinned
    ``generic`` by :mod:`hlmrep.code_paths`)."""
    return {
        "numba": numba.__version__,
        "python": sys.implementation.cache_tag or "",
        "cpu": str(getattr(numba_config, "CPU_NAME", None) or "host"),
    }


def warmed_kernels() -> list[str] | None:
    """The kernels' names if a whole warm-up filled this cache (:func:`mark_warmed`) and
    the index files it left are still there, else None.

    Loading the kernels to learn that they are cached costs a job 1.5 s (numba's typing
    of every kernel); the workflow's first job asks this instead. If a file went missing
    since, the first job that calls that kernel compiles it: slower, never different.
    """
    if getattr(numba_config, "CACHE_DIR", ""):
        return None  # numba's own folder (NUMBA_CACHE_DIR): not this cache
    folder = cache_folder()
    try:
        kept = json.loads((folder / WARMED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("stamp") != _warmed_stamp():
        return None
    names, indexes = kept.get("kernels"), kept.get("indexes")
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        return None
    if not (isinstance(indexes, list) and indexes and all(isinstance(i, str) for i in indexes)):
        return None
    if not all((folder / Path(index).name).is_file() for index in indexes):
        return None
    return list(names)


def mark_warmed(kernels: list[str]) -> None:
    """Say that a whole warm-up filled this cache with ``kernels``, naming the index files
    it left (the kernels it called; in one rename; a folder that cannot be written is
    passed over: the next job warms up again)."""
    if getattr(numba_config, "CACHE_DIR", ""):
        return
    folder = cache_folder()
    temporary = None
    try:
        indexes = sorted(path.name for path in folder.glob(f"{KERNEL_MODULE.stem}.*.nbi"))
        mark = {"stamp": _warmed_stamp(), "kernels": sorted(kernels), "indexes": indexes}
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".warmed.")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(mark, out)
        os.replace(temporary, folder / WARMED_FILE)
        temporary = None
    except (OSError, RuntimeError):
        pass
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)

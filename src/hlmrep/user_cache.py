"""What hlmrep keeps between runs on one machine, in the user's cache folder.

Three answers cost a second or more to compute and rarely change: the engine's compiled
kernels (:mod:`hlmrep.engine.kernel_cache`), the package files each rule's job depends on
(:mod:`hlmrep.pipeline.dependencies`) and whether R with lme4 is installed
(:mod:`hlmrep.replication.crosscheck`). Each is kept under ``$XDG_CACHE_HOME/hlmrep`` (or
``~/.cache/hlmrep``, the XDG base directory default) with a stamp of what it was computed
from, and computed again when the stamp differs. A cache that cannot be read or written
only makes a run slower, never different: every reader here treats a missing, damaged or
foreign file as no cache. (The engine, which imports nothing outside itself, names the
kernels' folder the same way on its own: :func:`hlmrep.engine.kernel_cache.cache_root`.)
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def folder(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/hlmrep/<parts>`` (``~/.cache`` when the variable is unset or
    empty, as the XDG base directory specification says); raises RuntimeError when there
    is no home folder either."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base, "hlmrep", *parts)


def read_json(path: Path) -> Any | None:
    """The JSON value kept at ``path``, or None when it is missing or damaged."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RuntimeError):
        return None


def write_json(path: Path, value: Any) -> None:
    """Keep ``value`` at ``path`` in one rename (a reader sees the old file or the new one,
    never half of one); a folder that cannot be written is passed over in silence."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(value, out)
        os.replace(temporary, path)
        temporary = None
    except (OSError, RuntimeError):  # RuntimeError: no home folder
        pass
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)

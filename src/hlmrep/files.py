"""Shared file I/O of the workflow's jobs: atomic writes, checksums, JSON read with a message.

Every results file is written through :func:`write_atomically`, so a killed job never
leaves a half file that a rerun would trust; every JSON results file is read through
:func:`read_json`, so a truncated one is named, not a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hlmrep.errors import InputDataError


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: Path, what: str = "results file") -> Any:
    """A JSON file's content, or an error that names the file and what to do about it.

    A results file that is missing, truncated or edited into invalid JSON is an input error
    of the job that reads it: say which file, where it breaks, and how to rebuild it.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise InputDataError(
            f"{what} {path} does not exist: run the workflow first (snakemake --cores all)"
        ) from error
    except (OSError, UnicodeDecodeError) as error:
        raise InputDataError(f"{what} {path} cannot be read: {error}") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputDataError(
            f"{what} {path} is not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg}); it was truncated or edited: delete it and rerun the workflow, "
            "which rebuilds it"
        ) from error


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Write via a temporary file in the same folder and rename, so no half file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    os.chmod(temporary, 0o644)  # mkstemp makes it private; results are for sharing
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

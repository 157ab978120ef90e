"""Shared file I/O of the workflow's jobs: atomic writes, checksums, JSON read with a message.

Every results file is written through :func:`write_atomically`, so a killed job never
leaves a half file that a rerun would trust; every JSON results file is read through
:func:`read_json`, so a truncated one is named, not a traceback.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hlmrep.errors import InputDataError


def parse_yaml(text: str) -> Any:
    """YAML text parsed safely (tags beyond YAML's own refused), by libyaml where PyYAML has
    it: the same documents at a tenth of the pure-Python parser's time, which a grading
    process pays for its six reference files before the first fit."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: Largest JSON results file read (the grading catalogue, the largest, is about 1 MB).
MAX_JSON_BYTES = 256 * 2**20


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_regular(path: Path, what: str, expected: str = "a file") -> os.stat_result:
    """Refuse, before opening it, a path that is not a regular file: opening a FIFO
    blocks for ever, and /dev/zero never ends. A symbolic link the user gave is followed
    (their own data); submissions are read by :mod:`hlmrep.grading.submission`."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputDataError(f"{what} {path} does not exist") from None
    except OSError as error:
        raise InputDataError(f"{what} {path} cannot be read: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputDataError(f"{what} {path} is {_kind(info.st_mode)}; expected {expected}")
    return info


def read_bounded(path: Path, what: str, limit: int, expected: str = "a file") -> bytes:
    """A regular file's bytes, refused when larger than ``limit``."""
    info = check_regular(path, what, expected)
    if info.st_size > limit:
        raise InputDataError(f"{what} {path} has {info.st_size} bytes, more than the {limit} read")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as error:
        raise InputDataError(f"{what} {path} cannot be read: {error.strerror}") from error
    if len(raw) > limit:
        raise InputDataError(f"{what} {path} has more than the {limit} bytes read")
    return raw


def read_json(path: Path, what: str = "results file") -> Any:
    """A JSON file's content, or an error that names the file and what to do about it.

    A results file that is missing, truncated or edited into invalid JSON is an input error
    of the job that reads it: say which file, where it breaks, and how to rebuild it.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise InputDataError(
            f"{what} {path} does not exist: run the workflow first (snakemake --cores all)"
        )
    try:
        text = read_bounded(path, what, MAX_JSON_BYTES).decode("utf-8")
    except UnicodeDecodeError as error:
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
    """Write via a temporary file in the same folder and rename, so no half file is left.

    Only a regular file (or nothing) at ``path`` is replaced: a device, a FIFO, a folder
    or a symbolic link there is refused with a message, never renamed over."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise InputDataError(
            f"{path} is {_kind(mode)}: not replaced; remove it or write to another path"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    os.chmod(temporary, 0o644)  # mkstemp makes it private; results are for sharing
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    except OSError as error:  # a full disk: say which file could not be written
        Path(temporary).unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from error
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


#: Rows formatted and written at a time by :func:`write_columns_csv` (bounds its memory).
CSV_CHUNK_ROWS = 1 << 16


def write_columns_csv(path: Path, columns: Mapping[str, Any], float_format: str) -> None:
    """Write equal-length numpy columns as pandas' ``DataFrame(columns).to_csv(path,
    index=False, float_format=float_format)`` writes them, byte for byte: the csv module's
    quoting (pandas uses it too), a float as ``float_format % value``, a missing value
    (NaN, None) empty.

    pandas formats every float through three Python calls; at the million rows of a fit
    job's observations file that was 4 of its 8 seconds, against 1.5 here, a chunk of
    rows at a time.
    """

    def text(values: Any) -> list[Any]:
        if values.dtype.kind == "f":
            return [float_format % v if v == v else "" for v in values.tolist()]
        if values.dtype.kind == "O":
            return ["" if v is None or (isinstance(v, float) and v != v) else v
                    for v in values.tolist()]  # fmt: skip
        return list(values.tolist())

    names = list(columns)
    rows = len(columns[names[0]]) if names else 0
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        for start in range(0, rows, CSV_CHUNK_ROWS):
            chunk = [text(columns[name][start : start + CSV_CHUNK_ROWS]) for name in names]
            writer.writerows(zip(*chunk, strict=True))

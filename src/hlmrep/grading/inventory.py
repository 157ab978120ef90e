"""The submissions folder as the grading jobs see it: one entry per file, nothing followed.

A class's folder is written by people the instructor should not have to trust (a zip from
a learning platform can carry symbolic links, FIFOs, names of 254 bytes, names that are
not UTF-8, names with Snakemake's ``{wildcards}`` or ``<path variables>``). Every entry
but a hidden one becomes one grading job and one line of the index, with:

- a ``key``, the name of its outputs and of its Snakemake wildcard: the file name itself
  when it is plain (letters, digits, ``._+-``, at most 100 characters, not ``index``,
  whose page would be the index), otherwise a plain version of it and 10 hex digits of
  the SHA-256 of its bytes, so that two odd names never share outputs;
- a ``refusal`` when the entry is not a regular file: a symbolic link (never followed,
  whether it points into the project, to /etc/passwd or nowhere), a folder, a FIFO, a
  device; the job records the refusal as that submission's error;
- a ``signature`` of what ``lstat`` says of it, a parameter of its job, so that a changed
  file is graded again (its bytes never reach Snakemake as a path, which would be read
  as a pattern).

The folder is listed with ``lstat`` at workflow parse time (a zip archive, a learning
platform's download, is opened there for its directory: each of its members is an entry
of its own, :mod:`.archives`); the file is read once, by its job, with ``O_NOFOLLOW`` and
to at most its size limit (:mod:`.submission`).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hlmrep.grading import archives

#: A file name used as it is for outputs and wildcards.
PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
#: Keys taken by the grading pages themselves (reports/grades/index.html).
RESERVED = frozenset({"index"})
#: Entries graded per folder: a class, or several; more is not a submissions folder.
MAX_ENTRIES = 5000


@dataclass(frozen=True)
class Entry:
    key: str
    #: The file name as shown on pages (:func:`display_name`).
    name: str
    path: Path
    refusal: str | None
    signature: str
    #: the member's name when the entry is a file inside an archive at ``path``
    #: (:mod:`.archives`), None for a file of the folder itself
    member: str | None = None


#: Unicode categories never shown as they are: controls, format characters (the
#: bidirectional overrides and isolates, zero-width joiners), separators other than the
#: space, private-use, surrogate and unassigned code points.
INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})


def visible(name: str) -> str:
    """A name as a page, a CSV or a grade book may show it: every invisible or reordering
    character written as ``<U+202E>``, so that ``u_rtl_<U+202E>txt.exe`` cannot pass for
    ``u_rtl_exe.txt`` (Unicode TR 36, "bidirectional text spoofing"), nor a space other
    than U+0020 for a space."""
    return "".join(
        f"<U+{ord(c):04X}>"
        if unicodedata.category(c) in INVISIBLE or (unicodedata.category(c) == "Zs" and c != " ")
        else c
        for c in name
    )


def display_name(raw: bytes) -> str:
    """The file name as pages show it: bytes that are not UTF-8 as ``\\xNN``, invisible
    characters as ``<U+XXXX>`` (:func:`visible`)."""
    return visible(raw.decode("utf-8", errors="backslashreplace"))


def key_for(raw: bytes) -> str:
    name = raw.decode("utf-8", errors="backslashreplace")
    if PLAIN.fullmatch(name) and name.lower() not in RESERVED:
        return name
    plain = re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._-+")[:60] or "submission"
    return f"{plain}-{hashlib.sha256(raw).hexdigest()[:10]}"


def _refusal(info: os.stat_result) -> str | None:
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return (
            "a symbolic link: not followed (a link can point anywhere on this machine); "
            "copy the file itself into the submissions folder"
        )
    if stat.S_ISDIR(mode):
        return "a folder, not a file: put the files it holds in the submissions folder itself"
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket or device"
        return f"not a regular file ({kind}): not read"
    return None


def entries(folder: Path) -> list[Entry]:
    """Every entry of the folder but hidden ones, in byte order of their names (none
    when the folder does not exist)."""
    try:
        with os.scandir(os.fsencode(folder)) as listing:
            found = sorted(
                (item.name, item.stat(follow_symlinks=False))
                for item in listing
                if not item.name.startswith(b".")
            )
    except (FileNotFoundError, NotADirectoryError):
        return []
    out: list[Entry] = []
    keys: set[str] = set()

    def unique(key: str, raw: bytes) -> str:
        if key in keys:  # a crafted name that copies another's key: give it its own
            key = f"{key}-{hashlib.sha256(raw + b'/').hexdigest()[:10]}"
        keys.add(key)
        return key

    for raw, info in found[:MAX_ENTRIES]:
        signature = f"{stat.filemode(info.st_mode)}:{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"
        path = Path(os.fsdecode(os.path.join(os.fsencode(folder), raw)))
        refusal = _refusal(info)
        if refusal is None and archives.is_archive(path):
            out += _archive_entries(path, display_name(raw), raw, unique)
        else:
            out.append(
                Entry(unique(key_for(raw), raw), display_name(raw), path, refusal, signature)
            )
    return out[:MAX_ENTRIES]


def _archive_entries(
    path: Path, name: str, raw: bytes, unique: Callable[[str, bytes], str]
) -> list[Entry]:
    """An archive's members as entries (:mod:`.archives`): each named ``archive/member``,
    keyed by the member's name, signed by its CRC and size (a new download of the same
    files grades nothing again); the archive alone, refused, when it cannot be opened."""
    try:
        found = archives.members(path, name)
    except archives.ArchiveError as error:
        message = str(error).removeprefix(f"{name}: ")
        return [Entry(unique(key_for(raw), raw), name, path, message, f"archive:{message}")]
    out = []
    for member in found:
        member_raw = member.name.encode("utf-8", errors="surrogateescape")
        out.append(
            Entry(
                unique(key_for(member_raw), member_raw),
                f"{name}/{visible(member.name)}",
                path,
                member.refusal,
                f"member:{member.crc:08x}:{member.size}",
                member=member.name,
            )
        )
    return out


def find(folder: Path, key: str) -> Entry:
    """The entry whose key is ``key`` (the grading job's view of its own file)."""
    for entry in entries(folder):
        if entry.key == key:
            return entry
    return Entry(key, key, Path(folder) / key, "no longer in the submissions folder", "")

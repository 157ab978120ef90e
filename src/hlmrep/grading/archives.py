"""A learning platform's download of a class's submissions: a zip archive in the submissions
folder, each member graded as a submission of its own.

Canvas's "Download Submissions" and Moodle's "Download all submissions" hand an instructor
one zip archive.  Dropped into the submissions folder, it is opened where it lies (never
unpacked onto the disk, so no member's path can land anywhere) and each member becomes an
entry of the folder (:mod:`.inventory`), graded by its own job.  The archive is untrusted
like every submission:

- at most :data:`MAX_ARCHIVE_BYTES` on the disk, :data:`MAX_MEMBERS` members and
  :data:`MAX_TOTAL_BYTES` uncompressed in all, or the archive is one refused entry;
- a member larger than a submission may be (:data:`.limits.MAX_BYTES`), encrypted, a
  symbolic link, or with a path that leaves the archive's folder (``..``, an absolute or a
  drive path) is that member's error; folders and hidden files (``__MACOSX/``, ``.DS_Store``)
  are skipped;
- a member's bytes are read by its job, at most its declared size (a member larger than it
  says is refused); a member that is itself an archive (zip, gzip, 7z, rar, tar) is not
  opened ("no nested archives"), while a Word or OpenDocument file, a zip by its format, is
  a document and read as one;
- an archive that cannot be opened is that entry's error, never the class's.

The platforms' member names carry the student (:mod:`.platforms`), so the grade books carry
their ids without a roster.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hlmrep.errors import HlmrepError
from hlmrep.grading import documents
from hlmrep.grading.limits import MAX_BYTES

#: An archive larger than this on the disk is refused unopened (a class of 300 PDFs).
MAX_ARCHIVE_BYTES = 1024 * 1024 * 1024
#: Members of one archive at most (files and folders).
MAX_MEMBERS = 2000
#: Uncompressed bytes of all members at most (each is also bounded like a submission).
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
#: The first bytes of archives that are not opened inside an archive.
_ARCHIVE_MAGIC = (
    (b"PK\x03\x04", "a zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
)
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveError(HlmrepError):
    """An archive, or one of its members, that is not read, and why."""


@dataclass(frozen=True)
class Member:
    """One file of an archive: its name in the archive, its size and CRC (what its job's
    signature is made of), and why it is refused, if it is."""

    name: str
    size: int
    crc: int
    refusal: str | None


def is_archive(path: Path) -> bool:
    """A zip archive that is not a Word or OpenDocument file (those are documents), from
    its first bytes and its directory; the file opened without following a link."""
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError:
        return False
    with os.fdopen(handle, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            return False
        if not stream.read(4).startswith(b"PK\x03\x04"):
            return False
        stream.seek(0)
        try:
            with zipfile.ZipFile(stream) as archive:
                names = archive.namelist()[: MAX_MEMBERS + 1]
        except (zipfile.BadZipFile, OSError, ValueError):
            return True  # a broken zip: an archive, whose entry says it cannot be opened
    # an Office Open XML (Word, Excel) or OpenDocument file is a zip too: a document, one
    # entry, read (or refused) as one
    return "[Content_Types].xml" not in names and "mimetype" not in names


def members(path: Path, label: str) -> list[Member]:
    """The archive's members graded as submissions (see the module); :class:`ArchiveError`
    when the archive itself is refused."""
    size = os.lstat(path).st_size
    if size > MAX_ARCHIVE_BYTES:
        raise ArchiveError(
            f"{label}: a {size / 2**30:.1f} GB archive (at most "
            f"{MAX_ARCHIVE_BYTES / 2**30:.0f} GB is opened): split the download"
        )
    try:
        with _open(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise ArchiveError(f"{label}: a zip archive that cannot be opened ({error})") from None
    if len(infos) > MAX_MEMBERS:
        raise ArchiveError(
            f"{label}: an archive of {len(infos)} members (at most {MAX_MEMBERS}): not opened"
        )
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_BYTES:
        raise ArchiveError(
            f"{label}: an archive of {total / 2**30:.1f} GB uncompressed (at most "
            f"{MAX_TOTAL_BYTES / 2**30:.0f} GB): not opened (a zip bomb?)"
        )
    out = []
    for info in infos:
        if info.is_dir() or _hidden(info.filename):
            continue
        out.append(Member(info.filename, info.file_size, info.CRC, _refusal(info)))
    return out


def _open(path: Path) -> zipfile.ZipFile:
    """The archive, opened without following a link."""
    handle = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    stream = os.fdopen(handle, "rb")
    if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
        stream.close()
        raise OSError("not a regular file")
    return zipfile.ZipFile(stream)


def _hidden(name: str) -> bool:
    """A member no student handed in: macOS's resource forks, dot files."""
    return any(
        (part.startswith(".") and part not in (".", "..")) or part == "__MACOSX"
        for part in name.split("/")
    )


def _refusal(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts:
        return "a path outside the archive's folder: not read"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link inside the archive: not followed"
    if info.flag_bits & 0x1:
        return "an encrypted member: cannot be read"
    if info.file_size > MAX_BYTES:
        return (
            f"{info.file_size / 1e6:.1f} MB is larger than the {MAX_BYTES / 2**20:.0f} MB "
            "accepted for a submission"
        )
    return None


def read_member(path: Path, name: str, label: str) -> bytes:
    """One member's bytes, at most :data:`.limits.MAX_BYTES` (see the module)."""
    try:
        with _open(path) as archive:
            info = archive.getinfo(name)
            refusal = _refusal(info)
            if refusal is not None:
                raise ArchiveError(f"{label}: {refusal}")
            with archive.open(info) as stream:
                raw = stream.read(MAX_BYTES + 1)
    except KeyError:
        raise ArchiveError(f"{label}: no longer in its archive") from None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as error:
        raise ArchiveError(f"{label}: cannot be read from its archive ({error})") from None
    if len(raw) > MAX_BYTES:
        raise ArchiveError(f"{label}: larger than its archive says (a zip bomb?): not read")
    if not raw.strip():
        raise ArchiveError(f"{label}: the file is empty")
    if documents.office_kind(raw) is None:
        for magic, kind in _ARCHIVE_MAGIC:
            if raw.startswith(magic):
                raise ArchiveError(
                    f"{label}: {kind} inside an archive: not opened (nested archives are not "
                    "read); hand in the files themselves"
                )
    if len(raw) > 262 and raw[257:262] == b"ustar":
        raise ArchiveError(f"{label}: a tar archive inside an archive: not opened")
    return raw

"""A submitted file read as untrusted data: checked, decoded, and recognised.

A submission is a program's printed output (R, statsmodels: the readers of
:mod:`hlmrep.grading.formats`), as text or inside a document (a PDF, a Jupyter notebook, a
web page: :mod:`hlmrep.grading.documents`), or a filled answer sheet
(:mod:`hlmrep.grading.answer_sheet`).  Nothing in it is ever evaluated.  A file that
cannot be graded (missing, empty, binary, larger than :data:`MAX_BYTES`, not text, a scan,
an unknitted source, none of these) raises :class:`SubmissionError` with the reason in
words, which the grade page and the summary show for that file alone.
"""

from __future__ import annotations

import codecs
import errno
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from hlmrep.errors import HlmrepError
from hlmrep.grading import documents
from hlmrep.grading.limits import MAX_BYTES
from hlmrep.grading.printout import Parsed
from hlmrep.grading.readers import program_titles, read_printout


class SubmissionError(HlmrepError):
    """A submitted file that cannot be graded, and why."""


@dataclass
class Submission:
    name: str
    format: str  # "R output" (lme4, lmerTest, nlme) or "answer sheet"
    text: str
    encoding: str
    parsed: Parsed | None = None


def read_bytes(path: Path, label: str) -> bytes:
    """The file's own bytes, at most :data:`MAX_BYTES`: opened without following a
    symbolic link and without blocking on a FIFO, and refused unless a regular file."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        handle = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise SubmissionError(
                f"{label}: a symbolic link: not followed; copy the file itself"
            ) from None
        raise SubmissionError(f"{label}: cannot be read ({error.strerror})") from None
    with os.fdopen(handle, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionError(f"{label}: is not a regular file")
        if info.st_size > MAX_BYTES:
            raise SubmissionError(
                f"{label}: {info.st_size / 1e6:.1f} MB is larger than the "
                f"{MAX_BYTES / 2**20:.0f} MB accepted for a submission; submit the printed "
                "output only"
            )
        raw = stream.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:  # it grew while being read
        raise SubmissionError(f"{label}: larger than the {MAX_BYTES / 2**20:.0f} MB accepted")
    return raw


def decode(raw: bytes, label: str) -> tuple[str, str]:
    """The text and its encoding; refuse what is not text."""
    if not raw.strip():
        raise SubmissionError(f"{label}: the file is empty")
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            return _decode(raw, encoding, label), encoding
    kind = binary_kind(raw)
    if kind == "a zip archive":
        raise SubmissionError(
            f"{label}: a zip archive (a learning platform's download?): put it in the "
            "workflow's submissions folder, where each file in it is graded as a submission "
            "of its own"
        )
    if kind:
        raise SubmissionError(
            f"{label}: {kind}, not text: hand in the printed output as text, a PDF, a "
            "knitted HTML page or a notebook, or fill in the answer sheet (CSV)"
        )
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        raise SubmissionError(
            f"{label}: a binary file (a NUL byte at offset {offset}), not text; "
            "copy the R console output into a .txt file, or fill in the answer sheet (CSV)"
        )
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    # R on Windows writes Windows-1252 text; anything else that is not UTF-8 is refused.
    text = _decode(raw, "cp1252", label)
    return text, "cp1252"


#: What a file that is not text is, by its first bytes.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\x89PNG", "a PNG image (a screenshot?)"),
    (b"\xff\xd8\xff", "a JPEG image (a screenshot?)"),
    (b"GIF8", "a GIF image"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document (.doc, .xls)"),
    (b"RDX", "an R data file (.rds, .RData)"),
)


def binary_kind(raw: bytes) -> str:
    """What a binary file is, in words, from its first bytes ("" when not one of these)."""
    if raw.startswith(b"PK\x03\x04"):
        head = raw[:4096]
        if b"word/" in head:
            return "a Word document (.docx) that cannot be read"
        if b"opendocument.text" in head:
            return "an OpenDocument text (.odt) that cannot be read"
        if b"xl/" in head:
            return "an Excel workbook (.xlsx)"
        return "a zip archive"
    for magic, kind in _MAGIC:
        if raw.startswith(magic):
            return kind
    return ""


#: Signs of another program's output that is not a linear mixed model, in words.
_OTHER_OUTPUT: tuple[tuple[str, str], ...] = (
    ("Generalized linear mixed model fit by", "lme4's glmer() output (a generalized model)"),
    ("Call:\nlm(", "R's lm() output (a model without random effects)"),
    ("Residual standard error:", "R's lm() output (a model without random effects)"),
    ("OLS Regression Results", "statsmodels' OLS output (a model without random effects)"),
    ("Generalized Linear Model Regression Results", "statsmodels' GLM output"),
    ("The REG Procedure", "SAS PROC REG output (a model without random effects)"),
    ("The GLM Procedure", "SAS PROC GLM output (a model without random effects)"),
    ("Prob > F", "Stata output that is not `mixed` (a regression)"),
    ("Linear mixed model fit by", "an lme4 summary() whose tables could not be read"),
)


def looks_like(text: str) -> str:
    """What a text that holds no mixed-model printout looks like, in words."""
    for sign, kind in _OTHER_OUTPUT:
        if sign in text:
            return f"it looks like {kind}"
    lines = [line for line in text.splitlines() if line.strip()]
    return f"{len(lines)} line(s) of text with none of these programs' tables"


def _decode(raw: bytes, encoding: str, label: str) -> str:
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        raise SubmissionError(
            f"{label}: not text in UTF-8 or Windows-1252 (byte 0x{raw[error.start]:02x} at "
            f"offset {error.start})"
        ) from None
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f")
    if controls > max(8, len(text) // 100):
        raise SubmissionError(f"{label}: {controls} control characters: a binary file, not text")
    return text


#: Characters a number may be printed with, as the ASCII a reader reads: minus signs and
#: dashes (a PDF's text layer has U+2212), spaces of every width (a no-break space between
#: a number's groups), zero-width characters (deleted); every other Unicode digit
#: (full-width, Arabic-Indic, ...) is its ASCII digit (:func:`plain_text`).
_PLAIN = {
    **{ord(c): "-" for c in "\u2212\u2010\u2011\u2012\u2013\ufe63\uff0d"},
    **{ord(c): " " for c in "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"},
    **{ord(c): " " for c in "\u2008\u2009\u200a\u202f\u205f\u3000"},
    **{ord(c): None for c in "\u200b\u200c\u200d\u2060\ufeff"},
    ord("\uff0e"): ".",
    ord("\uff0c"): ",",
    ord("\uff0b"): "+",
}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def plain_text(text: str) -> str:
    """``text`` with its numbers in ASCII (:data:`_PLAIN`), so that every reader reads
    ``\u22123.15926`` as ``-3.15926``; lines and letters are kept (Greek, superscripts).
    Linear in the text: each non-ASCII character is looked at once."""

    def plain(match: re.Match[str]) -> str:
        char = match.group(0)
        if ord(char) in _PLAIN:
            return _PLAIN[ord(char)] or ""
        if unicodedata.category(char) == "Nd":
            return str(unicodedata.digit(char))
        return char

    return _NON_ASCII.sub(plain, text)


def recognise(raw: bytes, label: str) -> Submission:
    """Decode and recognise one submission's bytes (see the module); a document (PDF,
    notebook, web page) is unwrapped to its output first (:mod:`.documents`)."""
    container = None
    try:
        if raw.startswith(b"%PDF-"):
            unwrapped = documents.pdf_text(raw, label)
            text, encoding, container = unwrapped.text, "PDF text layer", unwrapped.container
        elif (office := documents.office_kind(raw)) is not None:
            unwrapped = documents.office_text(raw, office, label)
            text, encoding, container = unwrapped.text, "UTF-8 (XML)", unwrapped.container
        else:
            text, encoding = decode(raw, label)
            inner = documents.notebook_text(text, label) or documents.html_text(text, label)
            if inner is not None:
                text, container = inner.text, inner.container
    except documents.DocumentError as error:
        raise SubmissionError(str(error)) from None
    text = plain_text(text)
    try:
        found, parsed = read_printout(text)
    except HlmrepError as error:
        raise SubmissionError(f"{label}: {error}") from None
    if not parsed.blocks and container is None and documents.is_source_without_output(text):
        raise SubmissionError(documents.source_refusal(label))
    if not parsed.blocks and parsed.not_graded:
        where = f" in {container}" if container else ""
        raise SubmissionError(
            f"{label}: nothing to grade{where}: only printouts that are read and not graded "
            f"({'; '.join(parsed.not_graded[:5])}). Hand in the summary() of each model"
        )
    if not parsed.blocks:
        where = f" in {container}" if container else ""
        raise SubmissionError(
            f"{label}: no mixed-model output found{where}: {looks_like(text)}. hlmrep reads "
            f"the printouts of {program_titles()}"
        )
    if container is not None:
        found = f"{found} in {container}"
    return Submission(label, found, text, encoding, parsed=parsed)


def read(path: Path, label: str | None = None) -> Submission:
    """Read and recognise one submitted file."""
    label = label or path.name
    return recognise(read_bytes(path, label), label)

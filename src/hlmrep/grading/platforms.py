"""Who handed a file in, from the name a learning platform's bulk download gives it.

- **Canvas** ("Download Submissions"): ``{name}_{user id}_{file id}_{file name}``, the name
  the student's sortable name in lower case without spaces or punctuation
  (``doejane_123456_7890123_hw4.pdf``), with ``LATE`` after it (or ``late_`` before it) for
  a late submission, and ``-1``, ``-2`` after a resubmitted file's name.  The user id is
  what Canvas's grade book import matches a row by (its ``ID`` column).
- **Moodle** ("Download all submissions"): ``{Full Name}_{participant id}_assignsubmission_
  {plugin}_{file name}``, or a folder of that name holding the files (``Download
  submissions in folders``).  The participant id is what Moodle's grading worksheet
  matches a row by (``Identifier``: ``Participant 12345``); it is not the user's id.

A name that is neither is the student's as the file names it (a roster names students
whatever their files are called, and wins where it lists the file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CANVAS = re.compile(
    r"^(?:late_)?(?P<name>[a-z][a-z0-9-]*?)(?P<late>_late)?_(?P<user>\d{1,15})_(?P<file>\d{1,15})_"
    r"(?P<original>.+)$",
    re.IGNORECASE,
)
_MOODLE = re.compile(
    r"^(?P<name>[^/_]+(?:_[^/_]+)*?)_(?P<participant>\d{1,15})_assignsubmission_"
    r"(?P<plugin>[a-z]+)_(?P<original>.*)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Handed:
    """What a platform's name says of a submission."""

    platform: str  # "Canvas" or "Moodle"
    name: str
    #: Canvas's user id; "" for Moodle
    user_id: str = ""
    #: Moodle's participant id; "" for Canvas
    participant: str = ""
    late: bool = False


def decode(path: str) -> Handed | None:
    """The student a platform's member name (``archive.zip/…`` or its path inside the
    archive) says handed the file in; None when the name follows neither convention."""
    parts = [part for part in path.split("/") if part]
    for part in reversed(parts[-2:]):  # Moodle's folder holds the file
        moodle = _MOODLE.match(part)
        if moodle:
            return Handed("Moodle", moodle["name"].strip(), participant=moodle["participant"])
    if parts:
        canvas = _CANVAS.match(parts[-1])
        if canvas:
            late = bool(canvas["late"]) or parts[-1].lower().startswith("late_")
            return Handed("Canvas", canvas["name"], user_id=canvas["user"], late=late)
    return None

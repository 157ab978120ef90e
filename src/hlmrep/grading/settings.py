"""The grading settings and their defaults, declared once.

``config.yaml``'s ``grading:`` section, the workflow's plan (:mod:`hlmrep.pipeline.plan`),
the grading jobs' signatures and ``python -m hlmrep grade`` all take their defaults from
:data:`DEFAULTS`; a setting left out of the config is the value written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class GradingSettings:
    """How a class is graded (config ``grading:``; the meaning of each in
    ``workflow/schemas/config.schema.yaml``)."""

    #: The folder of submissions (absent or empty: no grading jobs).
    submissions: str = "submissions"
    #: Where the vignette and the book print the same model, whose numbers win.
    reference: Literal["vignette", "textbook"] = "vignette"
    #: The fewest significant digits a number may be printed with and still replicate.
    min_significant_digits: int = 3
    #: How much a reference asked for and not handed in counts against the score.
    missing_weight: float = 1.0
    #: The references the assignment asks for (None: grading.yaml's default assignment).
    assignment: tuple[str, ...] | None = None
    #: The students' CSV (None: students named by their files).
    roster: str | None = None
    #: The assignment's column in the grade books.
    gradebook_title: str = "HSB replication"
    #: What a score of 100 % is worth.
    gradebook_points: float = 100.0


#: The defaults every grading entry point uses.
DEFAULTS = GradingSettings()

"""The HTML templates (the report, the grade pages, their shared style.css): a package,
so that the jobs that render them depend on them (:mod:`hlmrep.pipeline.dependencies`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2


def environment(filters: dict[str, Callable[..., Any]]) -> jinja2.Environment:
    """The templates' Jinja2 environment: every value escaped (submitted text is untrusted),
    an undefined name an error, and ``filters`` for numbers."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters)
    return env

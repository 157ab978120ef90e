"""Text in R's order: the order ``factor()`` gives a character column's levels.

R sorts strings by the collation of the locale it runs in; on a user's laptop (an English
UTF-8 locale, R built with ICU as CRAN's and Debian's builds are) that is the Unicode
Collation Algorithm with its default table: letters before case (``female`` before
``Male``, ``ab`` before ``Ab``), accents after the base letter (``e``, ``é``, ``f``),
punctuation and digits before letters, digits one by one (``10`` before ``9``).  Code-point
order (Python's ``sorted``) puts every capital before every small letter, so a factor's
baseline, and with it every coefficient name, would differ from lme4's.

pyuca implements the algorithm with the Unicode table, in pure Python; a test holds it to
``Rscript -e 'sort(x)'`` on levels in many scripts and habits.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import pyuca


@functools.cache
def _collator() -> pyuca.Collator:
    return pyuca.Collator()


def collation_key(text: str) -> tuple[tuple[int, ...], str]:
    """R's order of ``text`` (ties between different texts broken by code points)."""
    return tuple(_collator().sort_key(text)), text


def r_sorted(texts: Iterable[str]) -> list[str]:
    """``texts`` as R's ``sort()`` orders them in an English UTF-8 locale."""
    return sorted(texts, key=collation_key)

"""Fixed-effect names as the easystats packages print them (parameters, sjPlot, which
formats with insight): ``sector [Catholic]`` for a factor's level, ``cses × meanses`` (or
``cses * meanses``, ``cses:meanses``) for an interaction; lme4's names again
(``sectorCatholic``, ``cses:meanses``), so a printout of these packages is graded in the
vocabulary of every other.

Not a reader of its own (no ``READER``): the vocabulary two readers share.
"""

from __future__ import annotations

import re

#: How an interaction's parts are joined: ``×`` (easystats), `` * `` or ``:``.
_INTERACTION = re.compile(r"\s*(?:×|\*|:)\s*")
#: A factor's level in brackets after its name: ``sector [Catholic]``.
_LEVEL = re.compile(r"^(?P<name>[^\[\]]+?)\s*\[(?P<level>[^\[\]]*)\]$")


def lme4_term(label: str) -> str:
    """The lme4 name of a term printed as easystats prints it (see the module)."""
    parts = []
    for part in _INTERACTION.split(label.strip()):
        level = _LEVEL.match(part)
        parts.append(f"{level['name'].strip()}{level['level'].strip()}" if level else part.strip())
    return ":".join(parts)


def formula_terms(labels: list[str]) -> tuple[list[str], dict[str, str]]:
    """The model's fixed terms as a formula writes them (``sector``, ``cses:sector``) from
    the printed labels, and each lme4 name's variable (``sectorCatholic`` -> ``sector``)."""
    variables: dict[str, str] = {}
    terms: list[str] = []
    for label in labels:
        if label.strip() == "(Intercept)":
            continue
        parts = []
        for part in _INTERACTION.split(label.strip()):
            level = _LEVEL.match(part)
            name = level["name"].strip() if level else part.strip()
            if level:
                variables[f"{name}{level['level'].strip()}"] = name
            parts.append(name)
        term = ":".join(parts)
        if term not in terms:
            terms.append(term)
    return terms, variables

"""The diagnosis: which mistake a graded model or test is evidence of, decided here alone.

Grading runs one way (docs/architecture.md): a reader gives the neutral form,
:mod:`.matching` finds the reference attempted and the candidate the numbers are (the
optimum, lme4's stopping point, a catalogued mistake's fit), :mod:`.verdicts` grades each
number, and this module names the mistake from what those stages found, gathered in an
:class:`Evidence`; :mod:`.pages` shows it.  Nothing else sets a diagnosis.

The order of the evidence, strongest first:

1. a model or test the assignment does not ask for has none: its numbers are shown, not
   graded;
2. a printout that contradicts itself (its formula is not the model of its numbers, or
   its numbers are no fit of its formula) is that; an ``anova()`` whose models were fitted
   to different data is that, whatever its numbers (a likelihood-ratio test compares two
   fits of one data set);
3. a printed formula that was fitted (:mod:`.their_model`) is diagnosed by how the model
   written differs from the reference: a catalogued difference first; with no difference,
   the known alternative computation its numbers are (lme4's stopping point), if any,
   and never another model's mistake (the model written is the reference);
4. otherwise, the catalogued mistake whose fit the numbers are, then the mistakes of a
   combination (:mod:`.combinations`), then standard deviations reported as variances.

One number is diagnosed by the matched candidate's mistake when that fit gives it (and a
variance by ``sd_as_variance`` when it is the reference's standard deviation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from hlmrep.grading import matching, verdicts
from hlmrep.grading.printout import Printed
from hlmrep.grading.verdicts import Number
from hlmrep.records.catalogue import Catalogue, Entry
from hlmrep.records.grade import Diagnosis, NumberGrade

#: The mistake of variances that are the reference's standard deviations.
SD_AS_VARIANCE = "sd_as_variance"


@dataclass
class Evidence:
    """What matching, the formula fit and the number verdicts found for one graded block.

    ``candidate_mistake``: the matched candidate's mistake (a catalogued id, or a marker
    such as ``their_model`` for a model with several differences); ``combined``: the
    catalogued mistakes of a combination; ``formula_differences``: how the model written
    differs from the reference, None when no formula was fitted; ``known_mistake``: with
    no difference, the catalogue's candidate the numbers are; ``different_data``: an
    anova()'s models fitted to different data; ``inconsistent``: a printout whose formula
    is not the model of its numbers."""

    part_of_assignment: bool = True
    candidate_mistake: str | None = None
    combined: list[str] = field(default_factory=list)
    sd_as_variance: bool = False
    formula_differences: list[Diagnosis] | None = None
    known_mistake: str | None = None
    different_data: Diagnosis | None = None
    inconsistent: Diagnosis | None = None


def _catalogued(mistake: str, catalogue: Catalogue) -> Diagnosis:
    return cast(Diagnosis, {"id": mistake, **catalogue["mistakes"][mistake]})


def decide(evidence: Evidence, catalogue: Catalogue) -> tuple[Diagnosis | None, list[Diagnosis]]:
    """The diagnosis and the differences listed with it, from ``evidence`` (the module's
    order)."""
    mistakes = catalogue["mistakes"]
    if evidence.formula_differences is not None:
        differences = list(evidence.formula_differences)
    else:
        differences = [_catalogued(m, catalogue) for m in evidence.combined]
        if evidence.sd_as_variance and SD_AS_VARIANCE in mistakes:
            differences.append(_catalogued(SD_AS_VARIANCE, catalogue))
        if evidence.different_data is not None:
            differences.insert(0, evidence.different_data)
    if evidence.inconsistent is not None:
        differences.insert(0, evidence.inconsistent)
    if not evidence.part_of_assignment:
        return None, differences
    if evidence.inconsistent is not None:
        return evidence.inconsistent, differences
    if evidence.different_data is not None:
        return evidence.different_data, differences
    if evidence.formula_differences is not None:
        known = evidence.known_mistake
        # the model written is the reference: its numbers can be a known alternative
        # computation of it (lme4's stopping point), never another model's mistake
        if not differences and known in mistakes and mistakes[known]["kind"] == "accepted":
            return _catalogued(known, catalogue), differences
        catalogued = [d for d in differences if d["id"] in mistakes]
        first = catalogued or differences
        return (first[0] if first else None), differences
    if evidence.candidate_mistake in mistakes:
        return _catalogued(evidence.candidate_mistake, catalogue), differences
    return (differences[0] if differences else None), differences


def sd_as_variance(
    qid: str, submitted: Printed, graded: NumberGrade, entry: Entry, catalogue: Catalogue
) -> bool:
    """A variance that did not replicate but is the reference's standard deviation at its
    printed digits: a standard deviation reported as a variance (tau and sigma squared
    are variances; R prints both, nlme and VarCorr() the SDs)."""
    if not qid.endswith(".variance") or graded["verdict"] in verdicts.REPLICATED:
        return False
    if SD_AS_VARIANCE not in catalogue["mistakes"]:
        return False
    printed = entry["printed"].get(qid)
    optimum = next(c for c in entry["candidates"] if c["id"] == "optimum")
    variance = printed["value"] if printed is not None else optimum["values"].get(qid)
    if variance is None or not variance > 0:
        return False
    mine = matching.number(submitted)
    return verdicts.verdict(mine, Number(math.sqrt(variance), 0.0)) in verdicts.REPLICATED


def number_diagnosis(
    qid: str,
    submitted: Printed,
    graded: NumberGrade,
    candidate: Mapping[str, Any],
    entry: Entry,
    catalogue: Catalogue,
) -> str | None:
    """The mistake one number that did not replicate is evidence of: the matched
    candidate's, when that candidate's fit gives the number; a standard deviation reported
    as a variance; None."""
    if sd_as_variance(qid, submitted, graded, entry, catalogue):
        return SD_AS_VARIANCE
    mistake = candidate.get("mistake")
    if graded["verdict"] in verdicts.REPLICATED or not mistake:
        return None
    value: Any = candidate["values"].get(qid)
    digits = candidate.get("digits", {}).get(qid)
    if value is not None and matching.agreement(qid, submitted, value, digits)[0]:
        return mistake
    return None

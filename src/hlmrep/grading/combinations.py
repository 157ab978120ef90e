"""Mistakes made together: up to three catalogued mistakes at once, for numbers that come
without a formula (an answer sheet, a summary whose formula cannot be fitted).

A printout with a formula is fitted as written (:mod:`.their_model`), which names every
difference at once.  Numbers alone can only be compared with models: the catalogue holds
each mistake alone, and when none of them (nor the reference) explains the numbers, the
mistakes that apply to the reference are combined here, two and then three at a time,
fitted by the engine and scored like any candidate.  Two mistakes that change the same
thing (SES uncentred and SES grand-mean centred; the random part and its covariance) are
never combined: one would undo the other.  The search is greedy in its last step (triples
only extend the best pairs), so that it stays within a grading job's time.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pandas as pd

from hlmrep.grading import matching
from hlmrep.grading.matching import Alignment, Score
from hlmrep.grading.printout import Printed
from hlmrep.grading.references import Mistake, ModelSpec, References

#: Candidate id and mistake of a combination: a number it explains is diagnosed by the
#: combination's mistakes, listed with the model.
COMBINED = "combined"
#: Most mistakes combined.
MAX_MISTAKES = 3
#: Pairs extended to triples: the best-scoring ones.
PAIRS_EXTENDED = 3
#: Derivations that change one thing each: two mistakes sharing one are not combined.
EXCLUSIVE = ("reml", "replace", "meanses", "random", "covariance")


def _combinable(mistakes: tuple[Mistake, ...]) -> bool:
    keys = [k for m in mistakes for k in m.derive if k in EXCLUSIVE]
    structural = [m for m in mistakes if {"random", "covariance"} & set(m.derive)]
    return len(keys) == len(set(keys)) and len(structural) <= 1


def compose(spec: ModelSpec, mistakes: tuple[Mistake, ...]) -> ModelSpec | None:
    """The reference with every mistake made, or None when one of them changes nothing
    (it is undone by, or the same as, another)."""
    derived = spec
    for mistake in mistakes:
        step = mistake.derive_model(derived)
        if step is None:
            return None
        derived = step
    return derived


def search(
    target: str,
    numbers: Mapping[str, Printed],
    table: pd.DataFrame,
    references: References,
    single_best: Score,
) -> Score | None:
    """The combination of mistakes whose model explains ``numbers`` better than any one
    mistake and at least at :data:`.matching.HIGH`, or None (see the module)."""
    from hlmrep.grading.catalogue import fit_numbers

    spec = references.models[target].spec
    singles = [
        m
        for m in references.mistakes.values()
        if m.kind == "mistake"
        and m.applies(target)
        and not {"refit", "values"} & set(m.derive)
        and m.derive_model(spec) is not None
    ]
    alignment = Alignment(dict(numbers))
    scored: dict[tuple[str, ...], Score] = {}
    # the summary's own t tests (lmerTest's df and p), so that a combination is scored on
    # the numbers a single mistake is
    tests = frozenset(
        method
        for method, suffix in (("satterthwaite", ".df"), ("kenward_roger", ".kr_df"))
        if any(qid.endswith(suffix) for qid in numbers)
    )

    def attempt(combination: tuple[Mistake, ...]) -> None:
        key = tuple(sorted(m.id for m in combination))
        if key in scored or not _combinable(combination):
            return
        derived = compose(spec, combination)
        if derived is None:
            return
        fitted = fit_numbers(derived, table, tests=tests)
        candidate: dict[str, Any] = {
            "id": COMBINED,
            "kind": "mistake",
            "mistake": COMBINED,
            "mistakes": [m.id for m in combination],
            **fitted,
        }
        scored[key] = matching.score(target, candidate, alignment)

    for pair in itertools.combinations(singles, 2):
        attempt(pair)
    pairs = sorted(scored.values(), key=lambda s: -s.share)[:PAIRS_EXTENDED]
    if MAX_MISTAKES >= 3:
        by_id = {m.id: m for m in singles}
        for extended in pairs:
            chosen = tuple(by_id[i] for i in extended.candidate["mistakes"])
            for other in singles:
                if other not in chosen:
                    attempt((*chosen, other))
    if not scored:
        return None
    best = max(scored.values(), key=lambda s: (s.share, -len(s.candidate["mistakes"])))
    if best.share >= matching.HIGH and best.share > single_best.share:
        return best
    return None

"""The variance-explained table: for each configured pair of models, the proportion of each
variance explained from the base model to the fuller one (``variance_explained``, R&B
pp. 74, 85); read by the scorecard and the report.

Each pair holds its two models' names (``base``, ``model``) and its proportions: ``sigma2``
at level 1 and ``tau[TERM]`` for each random term of both models.  The terms are the
models', not names a type can list, so a pair is a mapping from name to string or number
rather than a TypedDict; the check says which names hold which.
"""

from typing import Any

from hlmrep.records import RecordKind

#: A pair: ``base`` and ``model`` (strings), ``sigma2`` and ``tau[TERM]`` (numbers).
ExplainedPair = dict[str, str | float]
#: The table, by pair name.
VarianceExplained = dict[str, ExplainedPair]

#: The names of a pair that hold model names; every other holds a proportion.
MODELS = ("base", "model")


def _names_and_proportions(table: dict[str, dict[str, Any]]) -> list[str]:
    """Model names under ``base`` and ``model``, numbers under the rest, ``sigma2`` among
    them."""
    problems = []
    for pair, entry in table.items():
        for key in (*MODELS, "sigma2"):
            if key not in entry:
                problems.append(f"{pair}.{key}: missing")
        for key, value in entry.items():
            if key in MODELS and not isinstance(value, str):
                problems.append(f"{pair}.{key}: expected a model's name, found a number")
            elif key not in MODELS and isinstance(value, str):
                problems.append(f"{pair}.{key}: expected a number, found a string")
    return problems


VARIANCE_EXPLAINED = RecordKind(
    VarianceExplained,
    "variance-explained table",
    "variance-explained",
    check=_names_and_proportions,
)

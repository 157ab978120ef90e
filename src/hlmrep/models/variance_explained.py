"""Proportion of variance explained between two fitted models (R&B pp. 74, 85).

Reads the two models' fit files; nothing is refitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hlmrep.errors import HlmrepError
from hlmrep.records.fit import FIT
from hlmrep.records.variance_explained import VARIANCE_EXPLAINED, VarianceExplained


def variance_explained(base: Mapping[str, Any], model: Mapping[str, Any]) -> dict[str, float]:
    """Proportion of variance explained from a base to a fuller model (pp. 74, 85).

        (τ_qq(base) − τ_qq(model)) / τ_qq(base) for each random term in both,
        (σ²(base) − σ²(model)) / σ²(base) at level 1.

    Takes two fit dictionaries (:meth:`LmmResult.to_dict`), as written by the model jobs.
    """
    out = {}
    base_terms = dict(
        zip(base["random_effects"]["terms"], base["random_effects"]["variance"], strict=True)
    )
    model_terms = dict(
        zip(model["random_effects"]["terms"], model["random_effects"]["variance"], strict=True)
    )
    for term, tau_base in base_terms.items():
        if term in model_terms and tau_base > 0:
            out[f"tau[{term}]"] = (tau_base - model_terms[term]) / tau_base
    out["sigma2"] = (base["residual_variance"] - model["residual_variance"]) / base[
        "residual_variance"
    ]
    return out


def variance_explained_job(
    *, pair: dict[str, str], fit: dict[str, Path], out: Path
) -> VarianceExplained:
    """Proportion of variance explained between configured pairs of models (pp. 74, 85).

    ``pair``: ``NAME=BASE:MODEL`` for each pair; ``fit``: ``MODEL=PATH`` of every fit record
    the pairs name."""
    pairs: dict[str, tuple[str, str]] = {}
    for name, text in pair.items():
        base, _, model = text.partition(":")
        if not base or not model:
            raise HlmrepError(f"--pair {name}={text}: expected NAME=BASE:MODEL")
        for role, model_name in (("base", base), ("model", model)):
            if model_name not in fit:
                raise HlmrepError(
                    f"--pair {name}={text}: no --fit {model_name}=PATH for its {role} model"
                )
        pairs[name] = (base, model)
    loaded = {name: FIT.read(path) for name, path in fit.items()}
    table: VarianceExplained = {}
    for name, (base, model) in sorted(pairs.items()):  # name order, whatever the config's
        table[name] = {
            "base": base,
            "model": model,
            **variance_explained(loaded[base], loaded[model]),
        }
    VARIANCE_EXPLAINED.write(out, table)
    return table

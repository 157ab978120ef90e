"""What a replication attempt is graded against: reference models, their printed numbers,
and the catalogue of known mistakes, read from ``grading.yaml`` and ``mistakes.yaml`` beside
this module (the printed numbers themselves from :mod:`hlmrep.replication.reference`).

A reference model is data (:class:`ModelSpec`): response, fixed and random terms, the
source of ``meanses``, REML or ML, and the covariance structure.  A mistake is a
derivation of a reference model (drop a term, replace a variable, fit by ML, ...), so the
catalogue of mistakes stays a YAML file anyone can extend (``mistakes.yaml``).

Every quantity has an id in the reference's vocabulary (see ``grading.yaml``):
``fixed.cses.estimate``, ``random.(Intercept).variance``, ``random.corr.(Intercept).cses``,
``residual.variance``, ``criterion``, and for likelihood-ratio tests ``full.deviance``,
``chisq``, ``p_value``.  A mistaken model's numbers are named in the same vocabulary, so
they line up with the reference's number by number.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from hlmrep.errors import HlmrepError
from hlmrep.files import parse_yaml
from hlmrep.replication import reference

#: Baseline levels, as R's factor() sorts them in Hsb82.
REFERENCE_LEVELS = {"sector": "Public", "minority": "No"}
#: How a variable of the model is named as an lme4 coefficient (a factor gets its level).
COEFFICIENT_NAMES = {"sector": "sectorCatholic", "minority": "minorityYes"}
SOURCES = ("vignette", "textbook")


@dataclass(frozen=True)
class ModelSpec:
    """A two-level model as data: what to fit, and how to name its numbers."""

    fixed: tuple[str, ...]
    random: tuple[str, ...]
    meanses: str = "sample"
    reml: bool = True
    covariance: str = "unstructured"
    #: variable -> column used in its place (a mistake's ``replace``)
    replace: tuple[tuple[str, str], ...] = ()
    response: str = "mathach"
    group: str = "school"

    def column(self, variable: str) -> str:
        return dict(self.replace).get(variable, variable)

    def formula(self) -> str:
        """The formula the engine fits, e.g. ``mathach ~ 1 + cses + (1 + cses | school)``."""

        def term(text: str) -> str:
            return ":".join(self.column(part) for part in text.split(":"))

        fixed = " + ".join(["1", *(term(t) for t in self.fixed)])
        random = " + ".join(["1", *(term(t) for t in self.random)])
        return f"{self.response} ~ {fixed} + ({random} | {self.group})"

    def coefficient(self, term: str) -> str:
        """The id of a term's coefficient in the reference's vocabulary (``sectorCatholic``)."""
        return ":".join(COEFFICIENT_NAMES.get(part, part) for part in term.split(":"))

    def uses(self, variable: str) -> bool:
        return any(variable in t.split(":") for t in (*self.fixed, *self.random))

    def describe(self) -> str:
        """The model said plainly, in the reference's names (for grade pages)."""
        text = self.formula()
        extras = []
        if self.covariance == "diagonal":
            extras.append("uncorrelated random effects")
        if self.uses("meanses"):
            extras.append(f"meanses: {self.meanses.replace('_', ' ')}")
        extras.append("REML" if self.reml else "ML")
        return f"{text} [{', '.join(extras)}]"


@dataclass(frozen=True)
class PrintedValue:
    """A reference number as its source printed it."""

    value: float
    digits: int | None  # decimals printed; None: no rounding rule (counts are exact)
    text: str
    bound: str = ""  # "<": printed as "< value"
    status: str = "agreed"  # textbook: agreed or disputed
    note: str = ""


@dataclass(frozen=True)
class ReferenceModel:
    name: str
    title: str
    where: str
    source: str
    spec: ModelSpec
    same_structure_as: str | None
    printed: dict[str, PrintedValue] = field(default_factory=dict)
    #: id of the textbook's or vignette's own symbol for each quantity (gamma10, ...)
    symbols: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReferenceLrt:
    name: str
    title: str
    where: str
    reduced: str
    full: str
    refit: bool
    tests: str
    stars: bool
    source: str
    printed: dict[str, PrintedValue] = field(default_factory=dict)
    symbols: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Mistake:
    id: str
    title: str
    explanation: str
    fix: str
    applies_to: tuple[str, ...] | str
    kind: str
    derive: dict[str, Any]

    def applies(self, name: str) -> bool:
        return self.applies_to == "all" or name in self.applies_to

    def derive_model(self, spec: ModelSpec) -> ModelSpec | None:
        """The mistaken model, or None when the derivation leaves ``spec`` unchanged."""
        derived = spec
        for key, value in self.derive.items():
            if key == "reml":
                derived = replace(derived, reml=bool(value))
            elif key == "replace":
                pairs = [(v, c) for v, c in value.items() if spec.uses(v)]
                derived = replace(derived, replace=derived.replace + tuple(pairs))
            elif key == "meanses":
                if spec.uses("meanses"):
                    derived = replace(derived, meanses=value)
            elif key == "drop_fixed":
                derived = replace(derived, fixed=tuple(t for t in spec.fixed if t not in value))
            elif key == "random":
                derived = replace(derived, random=tuple(value))
            elif key == "covariance":
                if spec.random:
                    derived = replace(derived, covariance=value)
            elif key in ("refit", "values", "reported"):
                return None  # not a model of its own: a test's computation, or a report
        return None if derived == spec else derived


def _printed_value(entry: Any, digits: int | None = None, **extra: Any) -> PrintedValue:
    if isinstance(entry, str) and entry.startswith("<"):
        text = entry[1:].strip()
        return PrintedValue(float(text), None, text, bound="<", **extra)
    if isinstance(entry, dict):
        extra = {
            "status": entry.get("status", "agreed"),
            "note": entry.get("note", ""),
        } | extra
        return _printed_value(entry["value"], entry.get("digits", digits), **extra)
    value = float(entry)
    if digits is None and isinstance(entry, int):
        digits = 0
    text = f"{value:.{digits}f}" if digits is not None else repr(value)
    return PrintedValue(value, digits, text, **extra)


def _vignette_model(block: dict[str, Any], names: dict[str, str]) -> dict[str, PrintedValue]:
    """A model printed in the vignette (``seed_lme4.yaml``) under quantity ids."""

    def term(name: str) -> str:
        if name == "intercept":
            return "(Intercept)"
        return ":".join(names.get(part, part) for part in name.split(":"))

    out = {"criterion": _printed_value(block["reml_criterion"])}
    for key, entry in block["scaled_residuals"].items():
        out[f"scaled_residuals.{key}"] = _printed_value(entry)
    for key, entry in block["random"].items():
        if key.startswith("residual_"):
            out["residual." + ("variance" if key.endswith("var") else "sd")] = _printed_value(entry)
        elif key.startswith("corr_"):
            a, b = key[len("corr_") :].split("_")
            out[f"random.corr.{term(a)}.{term(b)}"] = _printed_value(entry)
        else:
            match = re.fullmatch(r"school_(.+)_(var|sd)", key)
            if match is None:
                raise ValueError(f"reference number {key!r}: not a known kind of quantity")
            name, what = match.groups()
            kind = "variance" if what == "var" else "sd"
            out[f"random.{term(name)}.{kind}"] = _printed_value(entry)
    for name, entry in block["fixed"].items():
        digits = entry["digits"]
        for what, d in zip(("estimate", "se", "t"), digits, strict=True):
            out[f"fixed.{term(name)}.{what}"] = _printed_value(entry[what], d)
    return out


def _vignette_lrt(block: dict[str, Any]) -> dict[str, PrintedValue]:
    out: dict[str, PrintedValue] = {}
    for row, role in (("null", "reduced"), ("full", "full")):
        for column, value in block["table"][row].items():
            out[f"{role}.{column}"] = _printed_value(value, 0)
    out["chisq"] = _printed_value(block["chisq"])
    out["df"] = _printed_value(block["df"], 0)
    out["p_value"] = _printed_value(block["p_value"])
    return out


def _textbook(table: str, mapping: dict[str, str]) -> tuple[dict[str, PrintedValue], dict]:
    values = reference.load("textbook_ch4")["tables"][table]["values"]
    out, symbols = {}, {}
    for symbol, qid in mapping.items():
        out[qid] = _printed_value(values[symbol])
        symbols[qid] = symbol
        if qid == "chisq" and "df" in values[symbol]:
            out["df"] = _printed_value(values[symbol]["df"], 0)
    return out, symbols


def _spec(entry: dict[str, Any]) -> ModelSpec:
    return ModelSpec(
        fixed=tuple(entry["fixed"]),
        random=tuple(entry["random"]),
        meanses=entry.get("meanses", "sample"),
        reml=entry.get("reml", True),
    )


@dataclass(frozen=True)
class References:
    models: dict[str, ReferenceModel]
    lrts: dict[str, ReferenceLrt]
    mistakes: dict[str, Mistake]
    #: the references an assignment asks for by default (grading.yaml's ``assignment``)
    assignment: tuple[str, ...] = ()

    def twin(self, name: str) -> str | None:
        """The model of the same structure from the other source (model3 / Table 4.4)."""
        model = self.models.get(name)
        if model is None:
            return None
        return model.same_structure_as or next(
            (n for n, m in self.models.items() if m.same_structure_as == name), None
        )

    def required(self, names: list[str] | tuple[str, ...] | None = None) -> list[str]:
        """The references an assignment asks for (``names``, else the default), checked:
        an unknown name is an error that lists the known ones."""
        wanted = list(self.assignment if names is None else names)
        known = [*self.models, *self.lrts]
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise HlmrepError(
                f"grading.assignment: {', '.join(map(repr, unknown))} not a reference model or "
                f"test; known: {', '.join(known)}"
            )
        return wanted

    def asks_for(self, name: str, required: list[str]) -> bool:
        """Whether a reference is part of the assignment: itself, its twin, or a model of
        one of its tests."""
        if name in required or self.twin(name) in required:
            return True
        return any(name in (lrt.reduced, lrt.full) for n, lrt in self.lrts.items() if n in required)

    def summary_targets(self, prefer: str) -> list[str]:
        """Models a printed summary may be graded against, with ``prefer``'s source winning
        between two models of the same structure (model3 / Table 4.4, model4 / Table 4.5)."""
        if prefer not in SOURCES:
            raise HlmrepError(f"grading reference must be one of {SOURCES}, not {prefer!r}")
        out = []
        for name, model in self.models.items():
            twin = model.same_structure_as or next(
                (n for n, m in self.models.items() if m.same_structure_as == name), None
            )
            if twin and model.source != prefer:
                continue
            out.append(name)
        return out


def _data(name: str) -> dict[str, Any]:
    """``{name}.yaml`` beside this module, checked against its schema."""
    data = parse_yaml((resources.files(__package__) / f"{name}.yaml").read_text())
    return check_against_schema(name, data)


def check_against_schema(name: str, data: Any) -> dict[str, Any]:
    """``data`` if it matches ``{name}.schema.yaml``; else an error naming every place
    that does not, so a misspelt key is never an entry silently skipped."""
    import jsonschema

    schema = parse_yaml((resources.files(__package__) / f"{name}.schema.yaml").read_text())
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(data),
        key=lambda e: [str(p) for p in e.absolute_path],
    )
    if errors:
        lines = [
            f"  {'.'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
            for e in errors[:10]
        ]
        raise HlmrepError(f"{name}.yaml does not match {name}.schema.yaml:\n" + "\n".join(lines))
    return data


@functools.cache
def load() -> References:
    """The reference models, LRTs and mistakes (``grading.yaml``, ``mistakes.yaml``)."""
    grading = _data("grading")
    seed = reference.load("seed_lme4")
    models = {}
    for name, entry in grading["models"].items():
        printed: dict[str, PrintedValue] = {}
        symbols: dict[str, str] = {}
        source = entry.get("printed") or {}
        if "vignette" in source:
            printed = _vignette_model(seed["models"][source["vignette"]], source.get("names", {}))
        elif "textbook" in source:
            printed, symbols = _textbook(source["textbook"], source["map"])
        models[name] = ReferenceModel(
            name=name,
            title=entry["title"],
            where=entry["where"],
            source=entry["source"],
            spec=_spec(entry),
            same_structure_as=entry.get("same_structure_as"),
            printed=printed,
            symbols=symbols,
        )
    lrts = {}
    for name, entry in grading["lrts"].items():
        source = entry["printed"]
        if "vignette" in source:
            printed, symbols, stars, origin = (
                _vignette_lrt(seed["lrt"][source["vignette"]]),
                {},
                True,
                "vignette",
            )
        else:
            printed, symbols = _textbook(source["textbook"], source["map"])
            stars, origin = False, "textbook"
        lrts[name] = ReferenceLrt(
            name=name,
            title=entry["title"],
            where=entry["where"],
            reduced=entry["reduced"],
            full=entry["full"],
            refit=bool(entry["refit"]),
            tests=entry["tests"],
            stars=stars,
            source=origin,
            printed=printed,
            symbols=symbols,
        )
    mistakes = {}
    for entry in _data("mistakes")["mistakes"]:
        applies = entry["applies_to"]
        mistakes[entry["id"]] = Mistake(
            id=entry["id"],
            title=entry["title"],
            explanation=" ".join(entry["explanation"].split()),
            fix=" ".join(entry["fix"].split()),
            applies_to=applies if applies == "all" else tuple(applies),
            kind=entry.get("kind", "mistake"),
            derive=dict(entry["derive"]),
        )
    return References(models, lrts, mistakes, tuple(grading["assignment"]))


def f_test_id(type_: str, method: str, term: str, column: str) -> str:
    """The quantity id of one cell of an F table: ``anova.III.satterthwaite.cses.F``
    (type I, II or III; satterthwaite, kenward_roger or lme4; a column of
    :data:`~hlmrep.grading.printout.F_COLUMNS`; :func:`describe_quantity` names it)."""
    return f"anova.{type_}.{method}.{term}.{column}"


#: The df methods of tests (``FTests.method``, ``Summary.df_method`` of
#: :mod:`.printout`) in words: the grade pages', the neutral form's and the quantities'.
F_METHOD_WORDS = {
    "satterthwaite": "Satterthwaite's df",
    "kenward_roger": "Kenward-Roger's df",
    "lme4": "lme4's sequential table, no df",
}
#: An F table's columns in words (:func:`f_test_id`).
F_COLUMN_WORDS = {
    "sum_sq": "Sum Sq",
    "mean_sq": "Mean Sq",
    "num_df": "NumDF",
    "den_df": "DenDF",
    "F": "F value",
    "p": "p-value",
}


def describe_quantity(qid: str) -> str:
    """A quantity id in words: ``fixed.cses.se`` -> ``fixed effect cses: standard error``."""
    parts = qid.split(".")
    words = {
        "estimate": "estimate",
        "se": "standard error",
        "robust_se": "robust standard error",
        "t": "t value",
        "sd": "SD",
        "df": "Satterthwaite df",
        "p": "p-value (Satterthwaite)",
        "kr_se": "Kenward-Roger standard error",
        "kr_t": "t value (Kenward-Roger)",
        "kr_df": "Kenward-Roger df",
        "kr_p": "p-value (Kenward-Roger)",
    }
    if parts[0] == "anova" and len(parts) >= 5:
        term, column = ".".join(parts[3:-1]), parts[-1]
        method = F_METHOD_WORDS.get(parts[2], parts[2])
        return f"F test of {term} (type {parts[1]}, {method}): {F_COLUMN_WORDS.get(column, column)}"
    if parts[0] == "fixed":
        return f"fixed effect {'.'.join(parts[1:-1])}: {words.get(parts[-1], parts[-1])}"
    if parts[0] == "random" and parts[1] in ("corr", "cov"):
        what = "correlation" if parts[1] == "corr" else "covariance"
        return f"random effects: {what} of {parts[2]} and {'.'.join(parts[3:])}"
    if parts[0] == "random":
        return f"random effect {'.'.join(parts[1:-1])}: {words.get(parts[-1], parts[-1])}"
    if parts[0] == "residual":
        return f"residual: {words.get(parts[-1], parts[-1])}"
    if parts[0] == "scaled_residuals":
        return f"scaled residuals: {parts[1]}"
    if parts[0] == "ci":
        return f"confidence interval of {'.'.join(parts[1:-1])}: {parts[-1]} limit"
    if parts[0] in ("reduced", "full"):
        return f"{parts[0]} model: {parts[1]}"
    return {
        "criterion": "REML criterion (ML: deviance)",
        "chisq": "likelihood-ratio chi-square",
        "df": "chi-square df",
        "p_value": "p-value",
        "n_obs": "number of students (n)",
        "n_groups": "number of schools (J)",
        "icc": "intraclass correlation (ICC)",
    }.get(qid, qid)

"""The records that jobs hand each other, one typed reader and writer per kind.

A record kind (:class:`RecordKind`) is a :class:`~typing.TypedDict` that says what a results
file holds, used twice: by the type checker, for every module that reads the record, and at
run time, where it is the schema the file is checked against when it is read and before it
is written.  A file edited by hand, truncated, or left by an older version of hlmrep is
refused with the file and the first fields that do not match named, never half read; a job
whose own record does not match writes nothing.

Only the fields that other jobs read are declared (a record may hold more: the engine's
optimizer report, the inputs' checksums, notes); ``NotRequired`` marks the fields that some
records of a kind lack.  One module per kind beside this one: ``data_summary`` (the
prepared data), ``fit``, ``hlm`` (a fit's HLM statistics), ``inference``, ``comparison``,
``variance_explained``, ``bootstrap``, ``crosscheck`` (lme4 beside us), ``scorecard``,
``catalogue``, ``grade``, ``figure`` (a figure's caption), ``kernels`` (the compiled
kernels' marker): every JSON results file a job writes is one of them.  Those
modules do without ``from __future__ import annotations``: on Python 3.11 a TypedDict
learns which keys are ``NotRequired`` only from annotations evaluated when the class is
made.
"""

from __future__ import annotations

import functools
import json
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, get_args, get_origin

from hlmrep.errors import InputDataError
from hlmrep.files import read_json, write_atomically

Record = TypeVar("Record")

#: At most this many mismatches are named in one message.
PROBLEMS_SHOWN = 5


def _name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _expected(kind: Any) -> str:
    if kind is float:
        return "a number"
    if kind is int:
        return "a whole number"
    if kind is str:
        return "a string"
    if kind is bool:
        return "true or false"
    if kind is type(None):
        return "null"
    origin = get_origin(kind)
    if origin is Literal:
        return " or ".join(repr(v) for v in get_args(kind))
    if origin is list:
        return "a list"
    if origin is dict or typing.is_typeddict(kind):
        return "an object"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_expected(k) for k in get_args(kind))
    return repr(kind)


@functools.cache
def _type_hints(kind: Any) -> dict[str, Any]:
    """A TypedDict's fields and their types, resolved once per kind: resolved for every
    object of every record, they took the grade index 1.3 of its 2.2 s at 300 grades.
    (Read only: the dictionary is shared.)"""
    return typing.get_type_hints(kind)


def mismatches(value: object, kind: Any, where: str = "") -> Iterator[str]:
    """Every place where ``value`` (JSON data) is not of type ``kind``, as ``where: what``.

    The types a record declares: ``str``, ``int``, ``float`` (an int is a float, as in
    JSON; NaN and infinities are numbers), ``bool``, ``None``, ``Literal``, ``list[T]``,
    ``dict[str, T]``, a TypedDict, a union of these, and ``Any`` (not checked)."""
    here = where or "the record"
    if kind is Any or kind is object:
        return
    origin = get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = get_args(kind)
        if not any(next(mismatches(value, option, where), None) is None for option in options):
            yield f"{here}: expected {_expected(kind)}, found {_name(value)}"
        return
    if typing.is_typeddict(kind):
        if not isinstance(value, dict):
            yield f"{here}: expected an object, found {_name(value)}"
            return
        hints = _type_hints(kind)
        for key in sorted(kind.__required_keys__ - value.keys()):
            yield f"{where}.{key}: missing" if where else f"{key}: missing"
        for key, hint in hints.items():
            if key in value:
                yield from mismatches(value[key], hint, f"{where}.{key}" if where else key)
        return
    if origin is list:
        if not isinstance(value, list):
            yield f"{here}: expected a list, found {_name(value)}"
            return
        (item,) = get_args(kind)
        for index, element in enumerate(value):
            yield from mismatches(element, item, f"{where}[{index}]")
        return
    if origin is dict:
        if not isinstance(value, dict):
            yield f"{here}: expected an object, found {_name(value)}"
            return
        _, item = get_args(kind)
        for key, element in value.items():
            yield from mismatches(element, item, f"{where}.{key}" if where else str(key))
        return
    if origin is Literal:
        if value not in get_args(kind) or isinstance(value, bool) != any(
            isinstance(v, bool) for v in get_args(kind)
        ):
            yield f"{here}: expected {_expected(kind)}, found {value!r}"
        return
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is type(None):
        ok = value is None
    else:
        ok = isinstance(value, kind)
    if not ok:
        yield f"{here}: expected {_expected(kind)}, found {_name(value)}"


@dataclass(frozen=True)
class RecordKind(Generic[Record]):
    """One kind of record: its type, what it is called, the job command that writes it, its
    layout.

    ``check`` adds what a type cannot say (a table that must not be empty); ``indent``,
    ``final_newline`` and ``ensure_ascii`` keep each kind's files byte for byte as they have
    been written."""

    type: type[Record]
    label: str
    job: str
    indent: int = 1
    final_newline: bool = False
    ensure_ascii: bool = True
    check: Callable[[Any], list[str]] = field(default=lambda record: [])

    def problems(self, value: object) -> list[str]:
        found = list(mismatches(value, self.type))
        return found if found else self.check(value)

    def read(self, path: Path) -> Record:
        """The record in ``path``, checked; an error naming the file and the fields."""
        value = read_json(Path(path), self.label)
        problems = self.problems(value)
        if problems:
            raise InputDataError(
                f"{self.label} {path} does not hold what a {self.label} holds: "
                f"{self._listed(problems)}; it was edited or written by another version: "
                f"delete it and rerun the workflow, which rebuilds it (job {self.job})"
            )
        return typing.cast(Record, value)

    def text(self, record: Record) -> str:
        """The file's text, after checking that the record is of this kind."""
        problems = self.problems(record)
        if problems:  # a defect of the job that made it: nothing is written
            raise ValueError(
                f"job {self.job} made a {self.label} of the wrong shape: {self._listed(problems)}"
            )
        text = json.dumps(record, indent=self.indent, ensure_ascii=self.ensure_ascii)
        return text + "\n" if self.final_newline else text

    def write(self, path: Path, record: Record) -> None:
        """Write ``record`` to ``path`` atomically, after checking it."""
        text = self.text(record)
        write_atomically(Path(path), lambda p: p.write_text(text, encoding="utf-8"))

    @staticmethod
    def _listed(problems: list[str]) -> str:
        shown = "; ".join(problems[:PROBLEMS_SHOWN])
        more = len(problems) - PROBLEMS_SHOWN
        return shown + (f"; and {more} more" if more > 0 else "")

"""lme4-style mixed-model formulas, read as data: the grammar and the expanded terms.

A formula is parsed by a small grammar of our own and is never evaluated: no part of it
reaches Python's or R's evaluator.  What the grammar accepts:

- names of columns (``cses``, R's dotted ``mean.ses``), the numbers ``0`` and ``1`` as terms;
- the operators of R's formula language, with R's precedence: ``+ -`` (add, remove),
  ``* /`` (crossing, nesting), ``:`` (interaction), ``^`` (crossing up to an order),
  parentheses;
- one random-effects term ``( terms | group )``, added with ``+`` at the top level;
- an allow-list of transformations of numeric columns: ``I()`` of arithmetic
  (``+ - * / ^``, numbers, columns), ``log``, ``exp``, ``sqrt``, ``abs``, evaluated here with
  NumPy on the column's values.

Everything else (calls, attribute access, strings, backticks, ``$``, ``@``, …) is refused with
a message that points at the offending character.  The expanded terms (:class:`TermSet`)
are what the design matrices are built from (:mod:`~hlmrep.engine.design`, lme4's
``mkReTrms`` beside this module's ``lFormula``).  R is only ever handed
:meth:`MixedFormula.to_r`, a formula rebuilt from the parsed terms.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from hlmrep.errors import ModelSpecificationError

#: Transformations a formula may apply to a numeric column (and nothing else).
FUNCTIONS = {"I": None, "log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}
#: The covariance structures of the random-effects term: ``|`` and ``||``.
COVARIANCES = ("unstructured", "diagonal")
#: Longest formula accepted: an HSB model is under 100 characters.
MAX_FORMULA_LENGTH = 2000
#: Largest magnitude of a response or design value: cross-products square it.
MAX_MAGNITUDE = 1e150
#: Deepest nesting of parentheses, calls and unary minus: an HSB model nests 2 deep.
MAX_NESTING = 20
#: Deepest parse tree (a chain of 300 ``+`` is 300 deep): bounds every recursion over it.
MAX_TREE_DEPTH = 200
#: Most terms a formula part may expand to (``(a+…+h)^8`` is 255): ``^``, ``*`` and ``:``
#: multiply terms, so a 20-way ``*`` would be a million; refused before it is built.
MAX_TERMS = 256
#: Largest exponent of ``^`` accepted: beyond the number of variables R's ``(…)^k`` adds
#: nothing, so a larger one is a typo or an attack.
MAX_EXPONENT = 99

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*)"
    r"|(?P<op>\|\||[~+\-*/:^()|])"
    r")"
)


# ----------------------------------------------------------------------------------------
# Tokens and parse tree
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # "number", "name", "op", "end"
    text: str
    position: int


def _pointer(text: str, position: int) -> str:
    return f"\n    {text}\n    {' ' * position}^"


def refusal(text: str, position: int, message: str) -> ModelSpecificationError:
    return ModelSpecificationError(f"formula {text!r}: {message}{_pointer(text, position)}")


def tokenize(text: str) -> list[Token]:
    """Split a formula into tokens; anything outside the grammar is refused where it is."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            start = position + (len(text[position:]) - len(text[position:].lstrip()))
            char = text[start]
            what = {
                "`": "backticks are not accepted: name columns without quoting",
                "'": "strings are not part of a formula",
                '"': "strings are not part of a formula",
                "$": "'$' (element access) is not part of a formula",
                "@": "'@' (slot access) is not part of a formula",
                ",": "',' is not accepted: functions here take one argument",
                "_": "names start with a letter",
            }.get(char, f"{char!r} is not part of the formula language accepted here")
            raise refusal(text, start, what)
        kind = match.lastgroup or "op"
        start = match.start(kind)
        tokens.append(Token(kind, match.group(kind), start))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


@dataclass(frozen=True)
class Node:
    """A node of the parse tree: an operator with its operands, a name or a number."""

    kind: str  # "name", "number", "call", "bar", or an operator: + - * / : ^ neg paren
    position: int
    value: str = ""
    children: tuple[Node, ...] = ()


class _Parser:
    """Recursive descent with R's precedence: ``~`` < ``|`` < ``+ -`` < ``* /`` < ``:`` < ``^``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.nesting = 0

    def enter(self, position: int) -> None:
        """One level deeper (a parenthesis, a call, a sign): refuse past MAX_NESTING."""
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise refusal(self.text, position, f"nested more than {MAX_NESTING} levels deep")

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def take(self, text: str | None = None) -> Token:
        token = self.token
        if text is not None and token.text != text:
            expected = f"expected {text!r}"
            found = f"found {token.text!r}" if token.kind != "end" else "the formula ends"
            raise refusal(self.text, token.position, f"{expected}, {found}")
        self.index += 1
        return token

    def at(self, *texts: str) -> bool:
        return self.token.kind == "op" and self.token.text in texts

    def formula(self) -> tuple[Node, Node]:
        if not any(t.text == "~" for t in self.tokens):
            raise ModelSpecificationError(
                f"formula {self.text!r} has no '~': expected 'y ~ x + (x | g)'"
            )
        if self.at("~"):
            raise refusal(self.text, self.token.position, "no response left of '~'")
        response = self.expression()
        self.take("~")
        rhs = self.expression()
        if self.token.kind != "end":
            raise refusal(self.text, self.token.position, f"unexpected {self.token.text!r}")
        return response, rhs

    def expression(self) -> Node:
        """``a | b`` binds loosest, as in R: ``(x + z | g)`` is ``((x + z) | g)``."""
        left = self.sum()
        if self.at("|", "||"):
            op = self.take()
            right = self.sum()
            left = Node("bar", op.position, value=op.text, children=(left, right))
        return left

    def binary(
        self, operators: tuple[str, ...], operand: Callable[[], Node], first: Node | None = None
    ) -> Node:
        """Left-associative ``operand (op operand)*`` for the operators given (``first``:
        the first operand, when the caller has read it already)."""
        node = operand() if first is None else first
        while self.at(*operators):
            op = self.take()
            node = Node(op.text, op.position, children=(node, operand()))
        return node

    def sum(self) -> Node:
        first = None
        if self.at("-", "+"):  # a leading sign: "- 1 + x"
            op = self.take()
            operand = self.product()
            first = Node("neg", op.position, children=(operand,)) if op.text == "-" else operand
        return self.binary(("+", "-"), self.product, first)

    def product(self) -> Node:
        return self.binary(("*", "/"), self.interaction)

    def interaction(self) -> Node:
        return self.binary((":",), self.power)

    def power(self) -> Node:
        node = self.operand(self.expression, "a column name, 0, 1 or '('")
        if self.at("^"):
            op = self.take()
            exponent = self.take()
            if (
                exponent.kind != "number"
                or not exponent.text.isdigit()
                or not 1 <= int(exponent.text[:4]) <= MAX_EXPONENT
                or len(exponent.text) > 3
            ):
                raise refusal(
                    self.text,
                    exponent.position,
                    f"'^' in a formula takes a whole number from 1 to {MAX_EXPONENT}",
                )
            node = Node("^", op.position, value=exponent.text, children=(node,))
        return node

    def operand(self, inside: Callable[[], Node], expected: str) -> Node:
        """A number, a name, an allowed call, or ``inside`` in parentheses."""
        token = self.token
        if token.kind == "number":
            self.take()
            return Node("number", token.position, value=token.text)
        if token.kind == "name":
            self.take()
            if self.at("("):
                return self.call(token)
            return Node("name", token.position, value=token.text)
        if self.at("("):
            self.take("(")
            self.enter(token.position)
            inner = inside()
            self.nesting -= 1
            self.take(")")
            return Node("paren", token.position, children=(inner,))
        found = f"{token.text!r}" if token.kind != "end" else "the end of the formula"
        raise refusal(self.text, token.position, f"expected {expected}, found {found}")

    def call(self, name: Token) -> Node:
        if name.text not in FUNCTIONS:
            raise refusal(
                self.text,
                name.position,
                f"{name.text}() is not an accepted transformation; accepted: "
                f"{', '.join(f'{f}()' for f in FUNCTIONS)} of numeric columns",
            )
        self.take("(")
        self.enter(name.position)
        argument = self.arithmetic()
        self.nesting -= 1
        self.take(")")
        return Node("call", name.position, value=name.text, children=(argument,))

    # Arithmetic inside I(), log(), …: the usual precedence, unary minus, numbers.
    def arithmetic(self) -> Node:
        return self.binary(("+", "-"), self.arithmetic_term)

    def arithmetic_term(self) -> Node:
        return self.binary(("*", "/"), self.arithmetic_factor)

    def arithmetic_factor(self) -> Node:
        if self.at("-"):
            op = self.take()
            self.enter(op.position)
            node = Node("neg", op.position, children=(self.arithmetic_factor(),))
            self.nesting -= 1
            return node
        base = self.operand(self.arithmetic, "a column name or a number")
        if self.at("^"):
            op = self.take()
            self.enter(op.position)
            node = Node("^", op.position, children=(base, self.arithmetic_factor()))
            self.nesting -= 1
            return node
        return base


# ----------------------------------------------------------------------------------------
# Variables and terms
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variable:
    """One variable of a formula: a column, or an accepted transformation of columns."""

    label: str  # R's deparsed name: "cses", "I(ses^2)", "log(size)"
    node: Node = field(compare=False, repr=False)
    columns: tuple[str, ...] = field(compare=False)  # the data columns it reads

    @property
    def is_column(self) -> bool:
        return self.node.kind == "name"

    def to_r(self) -> str:
        """R source for this variable, names backticked: only names, numbers and operators."""
        return _deparse(self.node, quote=True)


#: A term: the variables it multiplies, in R's order; () is the intercept.
Term = tuple[Variable, ...]


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "^": 4}


def _deparse(node: Node, quote: bool = False, parent: int = 0) -> str:
    """R's deparse of an arithmetic node: spaces around + - *, none around / ^."""
    if node.kind == "name":
        return f"`{node.value}`" if quote else node.value
    if node.kind == "number":
        return node.value
    if node.kind == "paren":
        return f"({_deparse(node.children[0], quote)})"
    if node.kind == "call":
        return f"{node.value}({_deparse(node.children[0], quote)})"
    if node.kind == "neg":
        return f"-{_deparse(node.children[0], quote, _PRECEDENCE['neg'])}"
    left, right = node.children
    own = _PRECEDENCE[node.kind]
    joiner = f" {node.kind} " if node.kind in "+-*" else node.kind
    text = f"{_deparse(left, quote, own)}{joiner}{_deparse(right, quote, own + 1)}"
    return f"({text})" if own < parent else text


def _columns_of(node: Node) -> tuple[str, ...]:
    if node.kind == "name":
        return (node.value,)
    found: list[str] = []
    for child in node.children:
        found += [c for c in _columns_of(child) if c not in found]
    return tuple(found)


@dataclass(frozen=True)
class TermSet:
    """The expansion of a formula part: its terms in order of appearance and the intercept."""

    terms: tuple[Term, ...]
    intercept: bool


class _Expander:
    """Expand a parse tree into terms with R's rules (``terms.formula``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.variables: dict[str, Variable] = {}  # label -> Variable, in order of appearance

    def variable(self, node: Node) -> Variable:
        label = _deparse(node)
        if label not in self.variables:
            self.variables[label] = Variable(label, node, _columns_of(node))
        return self.variables[label]

    def order(self, term: frozenset[Variable]) -> Term:
        position = {v: i for i, v in enumerate(self.variables.values())}
        return tuple(sorted(term, key=position.__getitem__))

    def expand(self, node: Node) -> tuple[list[frozenset[Variable]], bool | None]:
        """Terms of ``node`` and what it says of the intercept (True, False or None)."""
        kind = node.kind
        if kind == "number":
            if node.value in ("0", "1"):
                return [], node.value == "1"
            raise refusal(
                self.text, node.position, f"a number ({node.value}) can only appear inside I()"
            )
        if kind in ("name", "call"):
            return [frozenset({self.variable(node)})], None
        if kind == "paren":
            return self.expand(node.children[0])
        if kind == "bar":
            raise refusal(
                self.text,
                node.position,
                "a random-effects term '( … | group )' must be added to the rest of the "
                "formula with '+', not combined with another operator",
            )
        if kind == "neg":
            terms, intercept = self.expand(node.children[0])
            if terms:
                raise refusal(self.text, node.position, "a formula cannot start by removing terms")
            return [], None if intercept is None else not intercept
        if kind == "+":
            left, li = self.expand(node.children[0])
            right, ri = self.expand(node.children[1])
            return _union(left, right), ri if ri is not None else li
        if kind == "-":
            left, li = self.expand(node.children[0])
            right, ri = self.expand(node.children[1])
            kept = [t for t in left if t not in right]
            return kept, (not ri) if ri is not None else li
        if kind in (":", "*", "/", "^"):
            self._no_intercept_inside(node)
        if kind == ":":
            left, _ = self.expand(node.children[0])
            right, _ = self.expand(node.children[1])
            self._at_most(len(left) * len(right), node)
            return _union([a | b for a in left for b in right], []), None
        if kind == "*":
            left, _ = self.expand(node.children[0])
            right, _ = self.expand(node.children[1])
            self._at_most(len(left) * len(right) + len(left) + len(right), node)
            return _union(_union(left, right), [a | b for a in left for b in right]), None
        if kind == "/":
            left, _ = self.expand(node.children[0])
            right, _ = self.expand(node.children[1])
            whole = frozenset().union(*left) if left else frozenset()
            return _union(left, [whole | b for b in right]), None
        if kind == "^":
            # R's (…)^k: every interaction of up to k distinct terms of the base (a term
            # crossed with itself is itself, so combinations, never k-fold products).
            base, _ = self.expand(node.children[0])
            degree = min(int(node.value), len(base))
            self._at_most(sum(math.comb(len(base), k) for k in range(1, degree + 1)), node)
            out: list[frozenset[Variable]] = list(base)
            for size in range(2, degree + 1):
                combinations = itertools.combinations(base, size)
                out = _union(out, [frozenset().union(*c) for c in combinations])
            return out, None
        raise refusal(self.text, node.position, f"unexpected {kind!r}")  # pragma: no cover

    def _at_most(self, count: int, node: Node) -> None:
        if count > MAX_TERMS:
            raise refusal(
                self.text,
                node.position,
                f"expands to {count} terms, more than the {MAX_TERMS} accepted",
            )

    def _no_intercept_inside(self, node: Node) -> None:
        for child in node.children:
            inner = child
            while inner.kind == "paren":
                inner = inner.children[0]
            if inner.kind == "number":
                raise refusal(
                    self.text,
                    inner.position,
                    f"{inner.value} cannot be combined with {node.kind!r}; use I() for arithmetic",
                )

    def term_set(self, node: Node | None, default_intercept: bool = True) -> TermSet:
        if node is None:
            return TermSet((), default_intercept)
        terms, intercept = self.expand(node)
        ordered = sorted(
            (self.order(t) for t in terms if t),
            key=lambda term: len(term),  # stable: R orders by degree, then appearance
        )
        return TermSet(tuple(ordered), default_intercept if intercept is None else intercept)


def _union(a: list[frozenset], b: list[frozenset]) -> list[frozenset]:
    out = list(a)
    for term in b:
        if term not in out:
            out.append(term)
    return out


def _summands(node: Node) -> list[tuple[Node, bool]]:
    """The top-level ``+``/``-`` operands of a right-hand side, with their signs."""
    if node.kind == "+":
        return _summands(node.children[0]) + _summands(node.children[1])
    if node.kind == "-":
        right = [(n, not positive) for n, positive in _summands(node.children[1])]
        return _summands(node.children[0]) + right
    if node.kind == "neg":
        return [(n, not positive) for n, positive in _summands(node.children[0])]
    return [(node, True)]


def _rebuild(parts: list[tuple[Node, bool]]) -> Node | None:
    node: Node | None = None
    for part, positive in parts:
        if node is None:
            node = part if positive else Node("neg", part.position, children=(part,))
        else:
            node = Node("+" if positive else "-", part.position, children=(node, part))
    return node


@dataclass(frozen=True)
class MixedFormula:
    """A parsed ``response ~ fixed + (random | group)`` formula: data, never code."""

    text: str
    response: str
    fixed: TermSet
    random: TermSet
    group: str
    variables: tuple[Variable, ...]
    #: The covariance of the random effects: "unstructured" (``(x | g)``, every variance
    #: and correlation free) or "diagonal" (``(x || g)``: uncorrelated, lme4's
    #: ``(1 | g) + (0 + x | g)``).
    covariance: str = "unstructured"

    @property
    def bar(self) -> str:
        return "||" if self.covariance == "diagonal" else "|"

    def with_covariance(self, covariance: str) -> MixedFormula:
        """The same terms with another covariance structure.

        The text stays what was written; :meth:`canonical` and :meth:`to_r` say ``||``.
        Set this way, "diagonal" is T's diagonal column by column, a factor's columns
        included (what a 0/1 coding of the factor gives in lme4's ``||``).
        """
        if covariance not in COVARIANCES:
            raise ModelSpecificationError(
                f"covariance must be one of {', '.join(COVARIANCES)}, not {covariance!r}"
            )
        return self if covariance == self.covariance else replace(self, covariance=covariance)

    @property
    def columns(self) -> list[str]:
        """Every data column the formula reads: response, group, then in appearance order."""
        out = [self.response, self.group]
        for variable in self.variables:
            out += [c for c in variable.columns if c not in out]
        return out

    @staticmethod
    def _terms_text(terms: TermSet, quote: bool) -> str:
        def name(v: Variable) -> str:
            return v.to_r() if quote else v.label

        parts = ["1" if terms.intercept else "0"]
        parts += [":".join(name(v) for v in term) for term in terms.terms]
        return " + ".join(parts)

    def fixed_text(self) -> str:
        """The fixed part rebuilt from its terms (``1 + cses + sector + cses:sector``)."""
        return self._terms_text(self.fixed, False)

    def canonical(self) -> str:
        """The formula rebuilt from its expanded terms (what was fitted, said plainly)."""
        return (
            f"{self.response} ~ {self._terms_text(self.fixed, False)} + "
            f"({self._terms_text(self.random, False)} {self.bar} {self.group})"
        )

    def to_r(self) -> str:
        """R source for the formula, rebuilt from the parsed terms with every name quoted.

        Only backticked column names, the accepted transformations, numbers and formula
        operators appear in it, so R's parser sees nothing but a formula.
        """
        return (
            f"`{self.response}` ~ {self._terms_text(self.fixed, True)} + "
            f"({self._terms_text(self.random, True)} {self.bar} `{self.group}`)"
        )


def parse_formula(text: str) -> MixedFormula:
    """Parse an lme4 formula with one random-effects term; refuse anything else, saying where.

    Exactly one bar term is supported: one grouping factor, with an unstructured covariance
    (``|``) or uncorrelated random effects (``||``, as lme4 expands it).  Anything else is
    refused with a message rather than silently fitted as a different model.
    """
    if not isinstance(text, str):
        raise ModelSpecificationError(f"a formula must be text, not {type(text).__name__}")
    if len(text) > MAX_FORMULA_LENGTH:
        raise ModelSpecificationError(
            f"formula of {len(text)} characters is longer than the {MAX_FORMULA_LENGTH} accepted"
        )
    parser = _Parser(text)
    lhs, rhs = parser.formula()
    if _depth(rhs) > MAX_TREE_DEPTH:
        raise ModelSpecificationError(
            f"formula {text[:80]!r}…: more than {MAX_TREE_DEPTH} operators in a chain"
        )
    if lhs.kind != "name":
        raise refusal(text, lhs.position, "the response must be a single column name")
    summands = _summands(rhs)
    bars = [(node, positive) for node, positive in summands if _unwrap(node).kind == "bar"]
    if not bars:
        nested = _find(rhs, "bar")
        if nested is not None:
            raise refusal(
                text,
                nested.position,
                "a random-effects term '( … | group )' must be added to the rest of the "
                "formula with '+', not combined with another operator",
            )
        raise ModelSpecificationError(
            f"formula {text!r} has no random-effects term such as '(1 | school)'"
        )
    if len(bars) > 1:
        raise ModelSpecificationError(
            f"formula {text!r} has {len(bars)} random-effects terms; one term with one "
            "grouping factor is supported, e.g. '(x | g)', or '(x || g)' for uncorrelated "
            "random effects"
        )
    bar, positive = bars[0]
    if not positive:
        raise refusal(text, bar.position, "a random-effects term cannot be removed with '-'")
    if bar.kind != "paren":
        raise refusal(text, bar.position, "a random-effects term must be in parentheses")
    inner = _unwrap(bar)
    random_node, group_node = inner.children
    group_node = _unwrap(group_node)
    if group_node.kind != "name":
        raise refusal(text, group_node.position, "the grouping factor must be a single column name")
    expander = _Expander(text)
    fixed_parts = [(n, p) for n, p in summands if n is not bar]
    fixed = expander.term_set(_rebuild(fixed_parts))
    random = expander.term_set(random_node)
    if not fixed.terms and not fixed.intercept:
        raise ModelSpecificationError(f"formula {text!r} has no fixed effects")
    if not random.terms and not random.intercept:
        raise ModelSpecificationError(f"formula {text!r}: the random-effects term has no terms")
    return MixedFormula(
        text=text,
        response=lhs.value,
        fixed=fixed,
        random=random,
        group=group_node.value,
        variables=tuple(expander.variables.values()),
        covariance="diagonal" if inner.value == "||" else "unstructured",
    )


def _depth(root: Node) -> int:
    """The parse tree's depth, computed without recursion (the tree may be deep)."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.children)
    return deepest


def _find(node: Node, kind: str) -> Node | None:
    """The first node of ``kind`` in the tree, depth first."""
    if node.kind == kind:
        return node
    for child in node.children:
        found = _find(child, kind)
        if found is not None:
            return found
    return None


def _unwrap(node: Node) -> Node:
    while node.kind == "paren":
        node = node.children[0]
    return node

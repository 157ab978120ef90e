"""SAS PROC NLMIXED output read into the neutral form (:mod:`.printout`), on the reading of
a SAS listing of :mod:`.sas`.

NLMIXED fits a mixed model written as a program: the student names every parameter
(``beta_1``, ``v_1``, ``c_21``, ``v_u``), writes the mean with them and the random
effects, and its printout has one table of them all (SAS/STAT User's Guide, "The NLMIXED
Procedure"):

- ``Specifications``: ``Dependent Variable``, ``Random Effects``, ``Subject Variable``;
  ``Dimensions``: ``Observations Used``, ``Subjects``;
- ``Fit Statistics``: ``-2 Log Likelihood``, ``AIC``, ``AICC``, ``BIC (smaller is better)``
  (NLMIXED maximises the likelihood: ML, never REML);
- ``Parameter Estimates``: ``Parameter  Estimate  Standard Error  DF  t Value  Pr > |t|
  Alpha  Lower  Upper  Gradient``, one row per parameter, fixed or not.

Which parameter is what is in the program, not the table.  When the step is pasted above
its output (as instructors get it), its statements say: ``model math ~ normal(mean,
v_u)`` makes ``v_u`` the residual variance; ``random d_1i d_2i ~ normal([0,0], [v_1,
c_21, v_2]) subject=id`` makes ``v_1``, ``v_2`` the random effects' variances and
``c_21`` their covariance (its lower triangle, row by row); the mean, its assignments
substituted, is linear in the parameters, and what each multiplies is its term
(``(beta_2 + d_2i)*(grade-2)``: ``beta_2`` and ``d_2i`` are ``I(grade - 2)``'s fixed and
random effect).  So the model is rebuilt as an lme4 formula.  Without the program the
parameters are placed by the usual names, said so on the page: indexed variances
(``v_1``, ``var2``, ``s2_1``) the random effects' in order, ``c_21`` the covariance of
the second and first, an unindexed variance (``v_u``, ``s2e``) the residual's, the rest
fixed effects, the first the intercept; no formula.  SAS's BIC takes the log of the
number of subjects: it is kept under its own name, not as lme4's BIC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hlmrep.grading.printout import (
    VARIANCES_ONLY,
    FixedTerm,
    Parsed,
    Printed,
    Program,
    RandomTerm,
    Reader,
    Summary,
    lme4_formula,
)
from hlmrep.grading.readers.sas import (
    MAX_ROWS,
    Row,
    Run,
    Step,
    cut_short,
    fit_statistics,
    key_values,
    number,
    read_listing,
    read_table,
)

#: The signals of NLMIXED's printout, besides its ``Parameter Estimates`` table.
SIGNALS = (
    "Gradient",
    "Fit Statistics",
    "-2 Log Likelihood",
    "AIC (smaller is better)",
    "Specifications",
    "Quadrature Points",
    "Max Obs Per Subject",
)
#: Tables that make a run NLMIXED's (PROC MIXED prints none of them).
TABLES = ("Parameter Estimates", "Specifications", "Parameters")
#: Statements of a step that do not change the model.
_OTHER_STATEMENTS = {
    "PROC",
    "PARMS",
    "PARAMETERS",
    "BOUNDS",
    "ESTIMATE",
    "PREDICT",
    "ID",
    "CONTRAST",
    "BY",
    "RUN",
    "QUIT",
    "REPLICATE",
    "TITLE",
}
#: Nesting of an expression read at most (a program's means are shallow).
_MAX_DEPTH = 50
#: What a variance parameter's name starts with (``v_1``, ``s2e``, ``sigma2_u``, ``tau00``).
_VARIANCE_PREFIXES = ("sigma2", "sig2", "var", "s2", "psi", "tau", "v")
#: What follows the prefix in the residual variance's name.
_RESIDUAL_WORDS = ("", "e", "eps", "err", "error", "r", "res", "resid", "residual", "w")
#: What follows it in any variance's name, before its index (``s2u0``, ``v_b1``).
_VARIANCE_WORDS = {*_RESIDUAL_WORDS, "u", "b", "d", "int", "slope"}


def recognises(text: str) -> bool:
    if not any(line.strip(" |\t") == "Parameter Estimates" for line in text.splitlines()):
        return False
    return sum(signal in text for signal in SIGNALS) + ("NLMIXED" in text.upper()) >= 3


def parse(text: str) -> Parsed:
    parsed = Parsed([], [])
    for run in read_listing(text, "NLMIXED"):
        if run.step is None and not any(table in run.sections for table in TABLES):
            continue
        summary = _run(run)
        parsed.problems += summary.unread
        parsed.blocks.append(summary)
    return parsed


# ----- the program: which parameter is what ---------------------------------------------------


@dataclass
class _Roles:
    """What each parameter (lower case) is: a fixed effect's term, a random effect's
    variance, a covariance of two (1-based, the later first), the residual variance."""

    response: str = ""
    subject: str = ""
    fixed: dict[str, str] = field(default_factory=dict)
    #: each random effect's term and its variance's parameter ("" when not one parameter)
    random: list[tuple[str, str]] = field(default_factory=list)
    covariances: dict[tuple[int, int], str] = field(default_factory=dict)
    residual: str = ""
    formula_possible: bool = True
    notes: list[str] = field(default_factory=list)


class _NotLinearError(Exception):
    """The program's model is not a linear mixed model as written (or not read as one)."""


@dataclass(frozen=True)
class _Covariate:
    """An expression of the data alone, as text; its precedence (1 sum, 2 product, 3 atom)
    says when it needs parentheses."""

    text: str
    precedence: int


_ONE = _Covariate("1", 3)


@dataclass
class _Linear:
    """An expression linear in parameters and random effects: what each multiplies."""

    terms: dict[str, _Covariate]
    offset: _Covariate | None = None


_Form = _Covariate | _Linear


def _wrap(form: _Covariate, precedence: int) -> str:
    return form.text if form.precedence >= precedence else f"({form.text})"


def _times(a: _Covariate, b: _Covariate) -> _Covariate:
    if a.text == "1":
        return b
    if b.text == "1":
        return a
    return _Covariate(f"{_wrap(a, 2)}*{_wrap(b, 2)}", 2)


def _plus(a: _Covariate | None, b: _Covariate, sign: str) -> _Covariate:
    if a is None:
        return b if sign == "+" else _Covariate(f"-{_wrap(b, 2)}", 1)
    return _Covariate(f"{a.text} {sign} {_wrap(b, 2)}", 1)


def _add(a: _Form, b: _Form, sign: str) -> _Form:
    if isinstance(a, _Covariate) and isinstance(b, _Covariate):
        return _plus(a, b, sign)
    if isinstance(b, _Linear) and sign == "-":
        raise _NotLinearError("a parameter subtracted")
    linear, other = (a, b) if isinstance(a, _Linear) else (b, a)
    assert isinstance(linear, _Linear)
    if isinstance(other, _Covariate):
        return _Linear(dict(linear.terms), _plus(linear.offset, other, sign))
    if linear.terms.keys() & other.terms.keys():
        raise _NotLinearError("a parameter in two terms")
    offset = linear.offset
    if other.offset is not None:
        offset = _plus(offset, other.offset, "+")
    return _Linear({**linear.terms, **other.terms}, offset)


def _multiply(a: _Form, b: _Form) -> _Form:
    if isinstance(a, _Covariate) and isinstance(b, _Covariate):
        return _times(a, b)
    if isinstance(a, _Linear) and isinstance(b, _Linear):
        raise _NotLinearError("a product of parameters")
    linear, covariate = (a, b) if isinstance(a, _Linear) else (b, a)
    assert isinstance(linear, _Linear) and isinstance(covariate, _Covariate)
    return _Linear(
        {name: _times(term, covariate) for name, term in linear.terms.items()},
        None if linear.offset is None else _times(linear.offset, covariate),
    )


def _covariate(form: _Form, what: str) -> _Covariate:
    if isinstance(form, _Linear):
        raise _NotLinearError(f"a parameter in {what}")
    return form


def _tokens(text: str) -> list[str]:
    """A statement's tokens: names, numbers, ``**`` and single characters (a scan, linear)."""
    out = []
    k = 0
    while k < len(text):
        char = text[k]
        if char.isspace():
            k += 1
        elif char.isalpha() or char == "_":
            end = k + 1
            while end < len(text) and (text[end].isalnum() or text[end] == "_"):
                end += 1
            out.append(text[k:end])
            k = end
        elif char.isdigit() or (char == "." and k + 1 < len(text) and text[k + 1].isdigit()):
            end = k + 1
            while end < len(text) and (text[end].isdigit() or text[end] == "."):
                end += 1
            if end + 1 < len(text) and text[end] in "eE" and (text[end + 1].isdigit()):
                end += 1
                while end < len(text) and text[end].isdigit():
                    end += 1
            out.append(text[k:end])
            k = end
        elif text.startswith("**", k):
            out.append("**")
            k += 2
        else:
            out.append(char)
            k += 1
    return out


def _is_name(token: str) -> bool:
    return bool(token) and (token[0].isalpha() or token[0] == "_")


class _Expression:
    """An expression of a step read into a :class:`_Linear` or :class:`_Covariate`: names
    of parameters and random effects are linear, assigned names their assigned value,
    other names the data's variables."""

    def __init__(
        self, tokens: list[str], values: dict[str, _Form | None], linear: set[str]
    ) -> None:
        self.tokens, self.values, self.linear = tokens, values, linear
        self.at = 0
        self.depth = 0

    def read(self) -> _Form:
        form = self._sum()
        if self.at != len(self.tokens):
            raise _NotLinearError(f"{self.tokens[self.at]!r} not read")
        return form

    def _peek(self) -> str:
        return self.tokens[self.at] if self.at < len(self.tokens) else ""

    def _take(self) -> str:
        token = self._peek()
        self.at += 1
        return token

    def _deeper(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _NotLinearError("nested too deep")

    def _sum(self) -> _Form:
        self._deeper()
        form = self._product()
        while self._peek() in ("+", "-"):
            sign = self._take()
            form = _add(form, self._product(), sign)
        self.depth -= 1
        return form

    def _product(self) -> _Form:
        form = self._unary()
        while self._peek() in ("*", "/"):
            if self._take() == "*":
                form = _multiply(form, self._unary())
            else:
                divisor = _covariate(self._unary(), "a divisor")
                form = _Covariate(f"{_wrap(_covariate(form, 'a ratio'), 2)}/{_wrap(divisor, 3)}", 2)
        return form

    def _unary(self) -> _Form:
        if self._peek() in ("-", "+"):
            self._deeper()
            sign = self._take()
            form = self._unary()
            self.depth -= 1
            if sign == "+":
                return form
            return _Covariate(f"-{_wrap(_covariate(form, 'a negation'), 2)}", 1)
        base = self._atom()
        if self._peek() == "**":
            self._take()
            power = _covariate(self._unary(), "a power")
            return _Covariate(f"{_wrap(_covariate(base, 'a power'), 3)}**{_wrap(power, 3)}", 3)
        return base

    def _atom(self) -> _Form:
        token = self._take()
        if token == "(":
            form = self._sum()
            if self._take() != ")":
                raise _NotLinearError("a parenthesis not closed")
            return form
        if number(token) is not None:
            return _Covariate(token, 3)
        if not _is_name(token):
            raise _NotLinearError(f"{token!r} not read")
        if self._peek() == "(":  # a function of the data
            self._take()
            arguments = [] if self._peek() == ")" else [self._sum()]
            while self._peek() == ",":
                self._take()
                arguments.append(self._sum())
            if self._take() != ")":
                raise _NotLinearError("a function's parenthesis not closed")
            texts = [_covariate(a, f"the function {token}").text for a in arguments]
            return _Covariate(f"{token}({', '.join(texts)})", 3)
        name = token.lower()
        if name in self.values:
            value = self.values[name]
            if value is None:
                raise _NotLinearError(f"{token} is not linear in the parameters")
            return value
        if name in self.linear:
            return _Linear({name: _ONE})
        return _Covariate(token, 3)


def _group(tokens: list[str], at: int) -> tuple[list[list[str]], int]:
    """The comma-separated parts inside the bracket at ``tokens[at]`` and the index after
    its closing bracket (the end when it does not close)."""
    parts: list[list[str]] = [[]]
    depth = 0
    k = at
    while k < len(tokens):
        token = tokens[k]
        if token in ("(", "["):
            depth += 1
            if depth > 1:
                parts[-1].append(token)
        elif token in (")", "]"):
            depth -= 1
            if depth == 0:
                return parts, k + 1
            parts[-1].append(token)
        elif token == "," and depth == 1:
            parts.append([])
        else:
            parts[-1].append(token)
        k += 1
    return parts, len(tokens)


def _term(covariate: _Covariate) -> str:
    """What a parameter multiplies as lme4's term: ``1`` the intercept, a variable itself,
    a product of variables their interaction, any other expression ``I(...)``."""
    if covariate.text == "1":
        return "(Intercept)"
    factors = covariate.text.split("*")
    if covariate.precedence >= 2 and all(f.isidentifier() for f in factors):
        return ":".join(factors)
    return f"I({covariate.text})"


def _normal(tokens: list[str], at: int, what: str) -> tuple[list[list[str]], int]:
    """``normal(a, b)`` at ``tokens[at]``: its arguments and the index after it."""
    if [t.upper() for t in tokens[at : at + 1]] != ["NORMAL"] or tokens[at + 1 : at + 2] != ["("]:
        found = tokens[at] if at < len(tokens) else "nothing"
        raise _NotLinearError(f"{what} ~ {found}: not a normal (linear) mixed model")
    return _group(tokens, at + 1)


def _from_program(step: Step, parameters: set[str]) -> _Roles:
    """The roles the step's statements give (see the module); :class:`_NotLinearError`
    when its model is not a linear mixed model or is not written so that it can be read
    as one."""
    parameters = set(parameters)
    roles = _Roles()
    assignments: list[tuple[str, list[str]]] = []
    model: list[str] = []
    random: list[str] = []
    for statement in step.statements():
        tokens = _tokens(statement)
        keyword = tokens[0].upper() if tokens else ""
        if keyword in ("PARMS", "PARAMETERS"):
            slash = tokens.index("/") if "/" in tokens else len(tokens)
            parameters |= {t.lower() for t in tokens[1:slash] if _is_name(t)}
        elif keyword == "MODEL":
            model = tokens[1:]
        elif keyword == "RANDOM":
            random = tokens[1:]
        elif len(tokens) > 2 and _is_name(tokens[0]) and tokens[1] == "=":
            assignments.append((tokens[0].lower(), tokens[2:]))
        elif keyword not in _OTHER_STATEMENTS and not statement.startswith("*"):
            raise _NotLinearError(f"the statement {statement[:40]!r}")
    if not model or "~" not in model:
        raise _NotLinearError("no MODEL statement")
    if not random or "~" not in random:
        raise _NotLinearError("no RANDOM statement")
    tilde = random.index("~")
    effects = [t.lower() for t in random[:tilde]]
    arguments, end = _normal(random, tilde + 1, "RANDOM")
    rest = random[end:]
    for k in range(len(rest) - 2):
        if rest[k].upper() == "SUBJECT" and rest[k + 1] == "=":
            roles.subject = rest[k + 2]
    values: dict[str, _Form | None] = {}
    linear = parameters | set(effects)
    for name, expression in assignments:
        try:
            values[name] = _Expression(expression, values, linear).read()
        except _NotLinearError:
            values[name] = None  # an error only if the mean uses it
    tilde = model.index("~")
    roles.response = " ".join(model[:tilde])
    parts, _ = _normal(model, tilde + 1, f"MODEL {roles.response}")
    if len(parts) != 2:
        raise _NotLinearError("MODEL's normal() is not normal(mean, variance)")
    mean = _Expression(parts[0], values, linear).read()
    if not isinstance(mean, _Linear):
        raise _NotLinearError("the mean has no parameter")
    if mean.offset is not None:
        roles.notes.append(f"the mean adds {mean.offset.text}, which no parameter multiplies")
    residual = [t.lower() for t in parts[1]]
    if len(residual) == 1 and residual[0] in parameters:
        roles.residual = residual[0]
    else:
        roles.notes.append(
            f"the residual variance is {' '.join(parts[1])}, not one parameter: not read"
        )
    for name, covariate in mean.terms.items():
        if name in parameters:
            if _term(covariate) in roles.fixed.values():
                raise _NotLinearError(f"two parameters multiply {covariate.text}")
            roles.fixed[name] = _term(covariate)
    matrix = _group(arguments[1], 0)[0] if len(arguments) == 2 else []
    if len(matrix) != len(effects) * (len(effects) + 1) // 2:
        raise _NotLinearError("RANDOM's covariance is not a lower triangle of its effects")
    entries = iter(matrix)
    for i, effect in enumerate(effects, start=1):
        if effect not in mean.terms:
            raise _NotLinearError(f"the random effect {effect} is not in the mean")
        for j in range(1, i + 1):
            entry = [t.lower() for t in next(entries)]
            one = entry[0] if len(entry) == 1 and entry[0] in parameters else ""
            if j == i:
                roles.random.append((_term(mean.terms[effect]), one))
                if not one:
                    roles.notes.append(
                        f"the variance of {effect} is {' '.join(entry)}, not one parameter: "
                        "not read"
                    )
            elif one:
                roles.covariances[i, j] = one
            elif entry != ["0"]:
                roles.notes.append(
                    f"the covariance of {effects[i - 1]} and {effects[j - 1]} is "
                    f"{' '.join(entry)}, not one parameter: not read"
                )
    roles.notes.insert(
        0,
        "the parameters are placed by the pasted program: "
        + ", ".join(f"{p} the fixed effect of {t}" for p, t in roles.fixed.items())
        + "".join(
            f", {v} the variance of {effects[i]} ({t})"
            for i, (t, v) in enumerate(roles.random)
            if v
        )
        + "".join(
            f", {p} the covariance of {effects[i - 1]} and {effects[j - 1]}"
            for (i, j), p in roles.covariances.items()
        )
        + (f", {roles.residual} the residual variance" if roles.residual else ""),
    )
    return roles


# ----- without the program: the usual names -------------------------------------------------


def _indices(name: str) -> list[int]:
    """``c_21`` → [2, 1]; ``c_2_1`` → [2, 1]; ``v_1`` → [1]; ``v_u`` → []."""
    runs = []
    digits = ""
    for char in name + " ":
        if char.isdigit():
            digits += char
        elif digits:
            runs.append(digits)
            digits = ""
    if len(runs) == 1 and len(runs[0]) == 2:
        return [int(runs[0][0]), int(runs[0][1])]
    return [int(run) for run in runs if len(run) <= 3]


def _variance_rest(name: str) -> str | None:
    """What follows a variance's prefix (``v_u`` → ``u``, ``s2u0`` → ``u0``, ``tau01`` →
    ``01``); None when the name is not a variance's (``vocab``: a word follows)."""
    prefix = next((p for p in _VARIANCE_PREFIXES if name.startswith(p)), None)
    if prefix is None:
        return None
    rest = name[len(prefix) :].strip("_")
    return rest if rest.rstrip("0123456789_") in _VARIANCE_WORDS else None


def _residual_rank(name: str) -> int:
    """How surely an unindexed variance is the residual's: ``s2e`` before ``v_u`` (this
    corpus's residual, but ``u`` is a level-2 effect in HLM's notation) before others."""
    rest = _variance_rest(name) or ""
    return 0 if rest in _RESIDUAL_WORDS else 1 if rest == "u" else 2


def _by_names(names: list[str]) -> _Roles:
    """Roles by the names' usual meaning (see the module)."""
    roles = _Roles(formula_possible=False)
    variances: dict[int, str] = {}
    covariances: dict[tuple[int, int], str] = {}
    unindexed: list[str] = []
    fixed: list[str] = []
    for name in names:
        rest = _variance_rest(name)
        indices = _indices(name if rest is None else rest)
        pair = len(indices) == 2 and indices[0] != indices[1]
        if pair and (rest is not None or name.startswith("c")):
            covariances[max(indices), min(indices)] = name
        elif rest is not None and indices:
            variances.setdefault(indices[0], name)
        elif rest is not None:
            unindexed.append(name)
        else:
            fixed.append(name)
    if unindexed:  # the residual's: by its word (``e``, ``res``), else the last
        ranked = sorted(unindexed, key=lambda n: (_residual_rank(n), -unindexed.index(n)))
        roles.residual = ranked[0]
        for name in unindexed:
            if name != roles.residual:
                variances.setdefault(-1, name)  # ``s2u`` beside ``s2e``: the intercept's
    for k, name in enumerate(fixed):
        roles.fixed[name] = "(Intercept)" if k == 0 else name
    order = sorted(variances)
    position = {index: k for k, index in enumerate(order, start=1)}
    for (i, j), name in covariances.items():
        if i in position and j in position:
            later, earlier = max(position[i], position[j]), min(position[i], position[j])
            roles.covariances[later, earlier] = name
    for k, index in enumerate(order):
        # its fixed effect: the same index (beta_2 of v_2), or HLM's (g10 of u1)
        partner = next((f for f in fixed if _indices(f) in ([index], [index, 0])), None)
        if partner is not None:
            term = roles.fixed[partner]
        else:
            term = "(Intercept)" if k == 0 else f"effect {k + 1}"
        roles.random.append((term, variances[index]))
    said = [f"{fixed[0]} the intercept"] if fixed else []
    said += [f"{p} a fixed effect (its term unknown)" for p in fixed[1:]]
    said += [f"{v} the variance of {t}'s random effect" for t, v in roles.random]
    terms = [t for t, _ in roles.random]
    said += [
        f"{p} the covariance of {terms[i - 1]}'s and {terms[j - 1]}'s"
        for (i, j), p in roles.covariances.items()
    ]
    if roles.residual:
        said.append(f"{roles.residual} the residual variance")
    roles.notes.append(
        "the program is not pasted: the parameters are placed by their names ("
        + ", ".join(said)
        + "); no formula"
    )
    return roles


# ----- a run read ---------------------------------------------------------------------------


def _run(run: Run) -> Summary:
    sections = run.sections
    summary = Summary(line=run.line + 1, estimation="ML", program=NLMIXED.name)
    spec = key_values(
        sections.get("Specifications"),
        ("Dependent Variable", "Subject Variable"),
    )
    counts = key_values(sections.get("Dimensions"), ("Observations Used", "Subjects"))
    fit_statistics(summary, sections.get("Fit Statistics"))
    table = read_table(sections.get("Parameter Estimates"), 5, 1)
    if len(table.rows) > MAX_ROWS:
        summary.unread.append(f"line {summary.line}: a table longer than {MAX_ROWS} rows")
        return summary
    rows: dict[str, Row] = {}
    for row in table.rows:
        if row.names:
            rows.setdefault(row.names[0].lower(), row)
        else:
            text = " ".join(row.cells)[:80]
            summary.unread.append(f"line {row.line + 1}: parameter without a name: {text!r}")
    try:
        if run.step is None:
            raise _NotLinearError("not pasted")
        roles = _from_program(run.step, set(rows))
    except _NotLinearError as error:
        roles = _by_names(list(rows))
        if run.step is not None:
            roles.notes.insert(0, f"the pasted program is not read as a linear model: {error}")
    subject = roles.subject or spec.get("Subject Variable", ("", 0))[0] or "subject"
    response = roles.response or spec.get("Dependent Variable", ("", 0))[0] or "y"
    for key, target in (("Observations Used", "n_obs"), ("Subjects", "groups")):
        value = counts.get(key, ("", 0))[0].split()[:1]
        if value and value[0].isdigit():
            if target == "n_obs":
                summary.n_obs = int(value[0])
            else:
                summary.groups = {subject: int(value[0])}
    summary.notes += roles.notes
    placed = _place(summary, roles, rows, subject)
    for name, row in rows.items():
        if name not in placed:
            summary.notes.append(f"parameter {row.names[0]} is none of the model's: not read")
    named = {*roles.fixed, *(v for _, v in roles.random), *roles.covariances.values()}
    missing = sorted(p for p in named | {roles.residual} if p and p not in rows)
    if table.cut or (missing and table.rows):
        if missing:
            summary.notes.append(f"not in the printout: {', '.join(missing)}")
        cut_short(summary, "Parameter Estimates")
    if not summary.fixed:
        summary.truncated = summary.truncated or table.cut or not rows
        summary.unread.append(
            f"line {summary.line}: no fixed effect in its 'Parameter Estimates' (or the page is "
            "cut before them): not graded"
        )
    elif roles.formula_possible and summary.random:
        terms = [t.term for t in summary.fixed if t.term != "(Intercept)"]
        names = [t.name for t in summary.random]
        summary.formula = lme4_formula(
            response,
            terms,
            [n for n in names if n != "(Intercept)"],
            subject,
            correlated=bool(roles.covariances),
            intercept="(Intercept)" in names,
        )
    return summary


def _estimate(row: Row | None) -> Printed | None:
    return number(row.cells[0]) if row is not None and row.cells else None


def _place(summary: Summary, roles: _Roles, rows: dict[str, Row], subject: str) -> set[str]:
    """Each parameter's row into its place; the parameters placed."""
    placed: set[str] = set()
    for name, row in rows.items():
        if name not in roles.fixed:
            continue
        values = [number(cell) for cell in row.cells]
        if len(values) >= 5 and all(v is not None for v in values[:2]) and values[3] is not None:
            estimate, se, df, t, p = values[:5]
            assert estimate is not None and se is not None and t is not None
            summary.fixed.append(FixedTerm(roles.fixed[name], estimate, se, t, df=df, p_value=p))
            placed.add(name)
        else:
            text = " ".join([*row.names, *row.cells])
            summary.unread.append(f"line {row.line + 1}: fixed effect not read: {text[:80]!r}")
    for i, (term, variance) in enumerate(roles.random, start=1):
        effect = RandomTerm(subject, term, _estimate(rows.get(variance)), None)
        covariances = [roles.covariances.get((i, j), "") for j in range(1, i)]
        if all(covariances):
            effect.covariances = [v for v in map(_estimate, map(rows.get, covariances)) if v]
        placed |= {variance, *covariances}
        summary.random.append(effect)
    if roles.residual in rows:
        summary.residual_variance = _estimate(rows[roles.residual])
        placed.add(roles.residual)
    return placed


NLMIXED = Program(
    name="SAS NLMIXED",
    block_label="PROC NLMIXED",
    title="SAS PROC NLMIXED",
    prints="variances",
    default_method="ML",
    never_prints=VARIANCES_ONLY,
)


READER = Reader(
    name="SAS NLMIXED output",
    programs=(NLMIXED,),
    recognises=recognises,
    parse=parse,
    order=50,
)

"""A small, safe expression language for rule segments.

    churn_risk > 0.7 and clv_tier == "high"
    not (orders_90d >= 2 or country == 'GB')

Grammar (a hand-written recursive-descent parser; nothing reaches `eval`, there is no attribute
access, indexing, function call or import, and identifiers must name a known column):

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := operand (("==" | "!=" | "<" | "<=" | ">" | ">=") operand)?
    operand    := NUMBER | STRING | "true" | "false" | IDENT | "(" expr ")"

Evaluation is vectorised over a DataFrame; a missing value compares false.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # evaluation needs them; parsing (at config load) must stay light
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

from connector.errors import ConfigError

MAX_LENGTH = 2000
MAX_DEPTH = 40

_TOKEN = re.compile(
    r"""\s*(?:(?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
        |(?P<str>"[^"\\\n]*"|'[^'\\\n]*')
        |(?P<op>==|!=|<=|>=|<|>|\(|\))
        |(?P<name>[A-Za-z][A-Za-z0-9_]*)
        |(?P<neg>-))""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "true", "false"}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class ExpressionError(ConfigError):
    """The expression is not valid in the rule language (the message says where and why)."""


@dataclass(frozen=True)
class Node:
    """A parsed expression node: kind is one of lit, col, cmp, and, or, not."""

    kind: str
    value: Any = None
    children: tuple[Node, ...] = ()


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            bad = text[pos:].lstrip()[:1]
            where = len(text) - len(text[pos:].lstrip())
            raise ExpressionError(
                f"unexpected character {bad!r} at position {where}: only comparisons, "
                "and/or/not, parentheses, numbers, quoted strings and column names are allowed"
            )
        tokens.append((m.lastgroup, m.group(m.lastgroup), m.start(m.lastgroup)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str, columns: Collection[str] | None) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.columns = columns
        self.depth = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise ExpressionError("expression ends too early")
        self.i += 1
        return tok

    def is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "name" and tok[1] == word

    def parse(self) -> Node:
        if not self.tokens:
            raise ExpressionError("empty expression")
        node = self.expr()
        tok = self.peek()
        if tok is not None:
            raise ExpressionError(f"unexpected {tok[1]!r} at position {tok[2]}")
        return node

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels")
        parts = [self.and_expr()]
        while self.is_word("or"):
            self.take()
            parts.append(self.and_expr())
        self.depth -= 1
        return parts[0] if len(parts) == 1 else Node("or", children=tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.is_word("and"):
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else Node("and", children=tuple(parts))

    def not_expr(self) -> Node:
        if self.is_word("not"):
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels")
            inner = self.not_expr()
            self.depth -= 1
            return Node("not", children=(inner,))
        left = self.operand()
        tok = self.peek()
        if tok is not None and tok[0] == "op" and tok[1] in _COMPARE:
            self.take()
            return Node("cmp", tok[1], (left, self.operand()))
        return left

    def operand(self) -> Node:
        kind, text, pos = self.take()
        if kind == "num":
            return Node("lit", float(text))
        if kind == "neg":
            nxt = self.take()
            if nxt[0] != "num":
                raise ExpressionError(f"'-' at position {pos} must precede a number")
            return Node("lit", -float(nxt[1]))
        if kind == "str":
            return Node("lit", text[1:-1])
        if kind == "op" and text == "(":
            inner = self.expr()
            close = self.take()
            if close[1] != ")":
                raise ExpressionError(f"expected ')' at position {close[2]}")
            return inner
        if kind == "name":
            if text in ("true", "false"):
                return Node("lit", text == "true")
            if text in _KEYWORDS:
                raise ExpressionError(f"unexpected keyword {text!r} at position {pos}")
            after = self.peek()
            if after is not None and after[0] == "op" and after[1] == "(":
                raise ExpressionError(f"function calls are not allowed ({text!r} at {pos})")
            if self.columns is not None and text not in self.columns:
                raise ExpressionError(f"unknown name {text!r} at position {pos}")
            return Node("col", text)
        raise ExpressionError(f"unexpected {text!r} at position {pos}")


def parse(text: str, columns: Collection[str] | None) -> Node:
    """Parse and validate an expression against the allowed column names (None: syntax only,
    as the config loader does before any data exists)."""
    if not isinstance(text, str):
        raise ExpressionError("expression must be a string")
    return _Parser(text, columns).parse()


_ORDERED = {"<", "<=", ">", ">="}


def _type_of(node: Node, types: Mapping[str, str], prefixes: Mapping[str, str]) -> str:
    """The type of a node: ``number``, ``text``, ``time`` or ``bool`` (a condition)."""
    if node.kind == "lit":
        value = node.value
        return "bool" if isinstance(value, bool) else "text" if isinstance(value, str) else "number"
    if node.kind == "col":
        name = str(node.value)
        found = types.get(name) or next(
            (t for prefix, t in prefixes.items() if name.startswith(prefix)), None
        )
        if found is None:
            raise ExpressionError(f"unknown name {name!r}: not a trait, feature or score column")
        return found
    if node.kind == "cmp":
        left, right = (_type_of(c, types, prefixes) for c in node.children)
        op = str(node.value)
        pair = {left, right}
        if left != right and pair != {"time", "text"}:
            raise ExpressionError(f"cannot compare a {left} with a {right} using {op!r}")
        if op in _ORDERED and "bool" in pair:
            raise ExpressionError(f"true/false values have no order ({op!r})")
        return "bool"
    for child in node.children:  # and, or, not: every part must be a condition
        _condition(child, types, prefixes)
    return "bool"


def _condition(node: Node, types: Mapping[str, str], prefixes: Mapping[str, str]) -> None:
    kind = _type_of(node, types, prefixes)
    if kind != "bool":
        what = f"column {node.value!r}" if node.kind == "col" else repr(node.value)
        raise ExpressionError(f"{what} is a {kind}, not a condition; compare it with something")


def typecheck(
    text: str, types: Mapping[str, str], prefixes: Mapping[str, str] | None = None
) -> None:
    """Check an expression against known column types (``prefixes``: families of columns such
    as ``cat_``); raises ExpressionError for unknown names and mismatched types, which would
    otherwise surface only in a run."""
    _condition(parse(text, None), types, prefixes or {})


def _value(node: Node, frame: pd.DataFrame) -> pd.Series | npt.NDArray[np.bool_] | float | str:
    if node.kind == "lit":
        literal: float | str = node.value
        return literal
    if node.kind == "col":
        column: pd.Series = frame[node.value]
        return column
    return _mask(node, frame)


def _mask(node: Node, frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
    import numpy as np
    import pandas as pd

    n = len(frame)
    if node.kind == "and":
        out = np.ones(n, dtype=bool)
        for child in node.children:
            out &= _mask(child, frame)
        return out
    if node.kind == "or":
        out = np.zeros(n, dtype=bool)
        for child in node.children:
            out |= _mask(child, frame)
        return out
    if node.kind == "not":
        return ~_mask(node.children[0], frame)
    if node.kind == "cmp":
        left, right = (_value(c, frame) for c in node.children)
        try:
            res = _COMPARE[str(node.value)](left, right)
        except TypeError as exc:
            raise ExpressionError(f"cannot compare with {node.value!r}: {exc}") from None
        if isinstance(res, pd.Series):
            return np.asarray(res.fillna(False).to_numpy(dtype=bool), dtype=bool)
        return np.full(n, bool(res))
    value = _value(node, frame)
    if isinstance(value, pd.Series):
        if not pd.api.types.is_bool_dtype(value):
            raise ExpressionError(f"column {node.value!r} is not true/false; compare it")
        return np.asarray(value.fillna(False).to_numpy(dtype=bool), dtype=bool)
    if isinstance(value, bool):
        return np.full(n, value)
    raise ExpressionError(f"{value!r} is not a condition; compare it with something")


def evaluate(text: str, frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Rows of `frame` matching the expression (columns of `frame` are the allowed names)."""
    return _mask(parse(text, frame.columns), frame)

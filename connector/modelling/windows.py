"""Window rules: the rule language grown by terms over a profile's recent events.

Real-time rule segments (``realtime = true``) may use, besides every name a rule may use:

    count(product_viewed, 7d) >= 3                      events of a type in the last 7 days
    count(event = "product_viewed" and category = "coats", 7d) >= 3
    revenue(order_completed, 30d) > 100                 summed revenue in a window
    hours_since(order_completed) > 48                   hours since the latest such event
    added_to_cart within 1h                             at least one such event in the window
    no order_completed within 1h                        none in the window
    no order_completed since added_to_cart              the latest cart add has no order after it

An event filter is either a bare event type (``product_viewed``) or a condition over the event
fields ``event`` (alias ``type``), ``category``, ``source``, ``revenue`` and ``currency``; a
duration is a whole number followed by ``m``, ``h`` or ``d``. ``=`` and ``==`` both compare.

A rule is parsed by hand (no eval) and compiled to one DuckDB query whose every value is a bound
parameter and every name one of a fixed set (event fields) or a column checked against the
store's own tables, so nothing from the config reaches SQL as text. The query has one clock,
``now``: an event is in a window of length D when ``occurred_at > now - D``. The stream and the
scheduled run evaluate the same query with the wall clock, so they agree on membership.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connector.modelling.expr import MAX_DEPTH, MAX_LENGTH, ExpressionError

__all__ = ["Compiled", "Term", "compile_rule", "parse_window_rule", "window_durations"]

_TOKEN = re.compile(
    r"""\s*(?:(?P<dur>\d+[mhd])(?![A-Za-z0-9_])
        |(?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
        |(?P<str>"[^"\\\n]*"|'[^'\\\n]*')
        |(?P<op>==|!=|<=|>=|<|>|=|\(|\)|,)
        |(?P<name>[A-Za-z][A-Za-z0-9_]*)
        |(?P<neg>-))""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "true", "false", "no", "within", "since"}
_AGGREGATES = {"count", "revenue", "hours_since"}
_UNIT = {"m": 60, "h": 3600, "d": 86400}
_EVENT_FIELDS = {
    "event": "{e}.type",
    "type": "{e}.type",
    "category": "json_extract_string({e}.properties, '$.category')",
    "source": "{e}.source",
    "revenue": "{e}.revenue",
    "currency": "{e}.currency",
}
_SQL_OP = {"==": "=", "=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass(frozen=True)
class Term:
    """A parsed node: lit, col, dur, cmp, and, or, not, agg, within, since, nosince, field
    (an event field) or type (an event type)."""

    kind: str
    value: Any = None
    children: tuple[Term, ...] = ()


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text) and text[pos:].strip():
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            where = len(text) - len(text[pos:].lstrip())
            raise ExpressionError(f"unexpected character {text[where]!r} at position {where}")
        tokens.append((m.lastgroup, m.group(m.lastgroup), m.start(m.lastgroup)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> tuple[str, str, int] | None:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self, expect: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise ExpressionError(
                "expression ends too early" + (f": expected {expect!r}" if expect else "")
            )
        if expect is not None and tok[1] != expect:
            raise ExpressionError(f"expected {expect!r} at position {tok[2]}, found {tok[1]!r}")
        self.i += 1
        return tok

    def word(self, word: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok is not None and tok[0] == "name" and tok[1] == word

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels")

    def parse(self) -> Term:
        if not self.tokens:
            raise ExpressionError("empty expression")
        node = self.expr(events=False)
        if (tok := self.peek()) is not None:
            raise ExpressionError(f"unexpected {tok[1]!r} at position {tok[2]}")
        return node

    def expr(self, *, events: bool) -> Term:
        self.nest()
        parts = [self.and_expr(events)]
        while self.word("or"):
            self.take()
            parts.append(self.and_expr(events))
        self.depth -= 1
        return parts[0] if len(parts) == 1 else Term("or", children=tuple(parts))

    def and_expr(self, events: bool) -> Term:
        parts = [self.not_expr(events)]
        while self.word("and"):
            self.take()
            parts.append(self.not_expr(events))
        return parts[0] if len(parts) == 1 else Term("and", children=tuple(parts))

    def not_expr(self, events: bool) -> Term:
        if self.word("not"):
            self.take()
            self.nest()
            inner = self.not_expr(events)
            self.depth -= 1
            return Term("not", children=(inner,))
        if not events and self.word("no"):
            self.take()
            found = self.presence()
            if found.kind == "since":
                return Term("nosince", children=found.children)
            return Term("not", children=(found,))
        if not events and self._starts_presence():
            return self.presence()
        left = self.operand(events)
        tok = self.peek()
        if tok is not None and tok[0] == "op" and tok[1] in _SQL_OP:
            self.take()
            return Term("cmp", tok[1], (left, self.operand(events)))
        return left

    def _starts_presence(self) -> bool:
        """``X within D`` or ``X since Y``, where X is an event type or a parenthesised filter."""
        tok = self.peek()
        if tok is None:
            return False
        if tok[0] == "name" and tok[1] not in _KEYWORDS:
            return self.word("within", 1) or self.word("since", 1)
        if tok[1] != "(":
            return False
        depth, j = 0, self.i
        while j < len(self.tokens):
            depth += {"(": 1, ")": -1}.get(self.tokens[j][1], 0) if self.tokens[j][0] == "op" else 0
            if depth == 0:
                return self.word("within", j + 1 - self.i) or self.word("since", j + 1 - self.i)
            j += 1
        return False

    def presence(self) -> Term:
        what = self.event_filter()
        if self.word("within"):
            self.take()
            return Term("within", children=(what, self.duration()))
        self.take("since")
        return Term("since", children=(what, self.event_filter()))

    def event_filter(self) -> Term:
        tok = self.peek()
        if tok is not None and tok[1] == "(":
            self.take()
            inner = self.expr(events=True)
            self.take(")")
            return inner
        kind, text, pos = self.take()
        if kind != "name" or text in _KEYWORDS:
            raise ExpressionError(f"expected an event type or a (filter) at position {pos}")
        return Term("type", text)

    def duration(self) -> Term:
        kind, text, pos = self.take()
        if kind != "dur":
            raise ExpressionError(f"expected a duration such as 7d, 1h or 30m at position {pos}")
        seconds = int(text[:-1]) * _UNIT[text[-1]]
        if seconds <= 0 or seconds > 3650 * 86400:
            raise ExpressionError(f"duration {text!r} at position {pos} is out of range")
        return Term("dur", seconds)

    def operand(self, events: bool) -> Term:
        kind, text, pos = self.take()
        if kind == "num":
            return Term("lit", float(text))
        if kind == "neg":
            nxt = self.take()
            if nxt[0] != "num":
                raise ExpressionError(f"'-' at position {pos} must precede a number")
            return Term("lit", -float(nxt[1]))
        if kind == "str":
            return Term("lit", text[1:-1])
        if kind == "op" and text == "(":
            inner = self.expr(events=events)
            self.take(")")
            return inner
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r} at position {pos}")
        if text in ("true", "false"):
            return Term("lit", text == "true")
        if text in _KEYWORDS:
            raise ExpressionError(f"unexpected keyword {text!r} at position {pos}")
        if events:
            return Term("field", text) if text in _EVENT_FIELDS else Term("type", text)
        if self.peek() is not None and self.peek()[1] == "(":  # type: ignore[index]
            return self.aggregate(text, pos)
        return Term("col", text)

    def aggregate(self, name: str, pos: int) -> Term:
        if name not in _AGGREGATES:
            raise ExpressionError(
                f"{name!r} at position {pos} is not a window function "
                f"(one of {', '.join(sorted(_AGGREGATES))})"
            )
        self.take("(")
        what = self.event_filter() if self.peek_is_filter_end() else self.expr(events=True)
        args: tuple[Term, ...] = (what,)
        if name != "hours_since":
            self.take(",")
            args += (self.duration(),)
        self.take(")")
        return Term("agg", name, args)

    def peek_is_filter_end(self) -> bool:
        """A bare event type directly followed by ``,`` or ``)``."""
        nxt = self.peek(1)
        return self.peek() is not None and nxt is not None and nxt[1] in (",", ")")


def parse_window_rule(text: str) -> Term:
    """Parse a real-time rule (syntax only; names are checked when it is compiled)."""
    if not isinstance(text, str):
        raise ExpressionError("expression must be a string")
    return _Parser(text).parse()


def window_durations(node: Term) -> set[int]:
    """Every window length (seconds) a rule uses: its membership can change when an event
    leaves one of them, so the stream re-evaluates its members when one may have."""
    found = {int(node.value)} if node.kind == "dur" else set()
    for child in node.children:
        found |= window_durations(child)
    return found


@dataclass(slots=True)
class Compiled:
    """A rule as a boolean SQL expression over the target row ``t`` and its joined columns."""

    sql: str
    params: list[Any] = field(default_factory=list)


class _Compiler:
    """Emits SQL left to right, binding each value as it goes (placeholders are positional)."""

    def __init__(self, columns: Mapping[str, str], now: datetime) -> None:
        self.columns = columns  # rule name -> qualified, quoted SQL column
        self.now = now
        self.params: list[Any] = []

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def cond(self, node: Term, ev: str = "") -> str:
        """``ev`` is the alias of the event row inside a filter, empty at the profile level."""
        if node.kind in ("and", "or"):
            glue = f" {node.kind.upper()} "
            return "(" + glue.join(self.cond(c, ev) for c in node.children) + ")"
        if node.kind == "not":
            return f"(NOT {self.cond(node.children[0], ev)})"
        if node.kind == "cmp":
            left = self.value(node.children[0], ev)
            right = self.value(node.children[1], ev)
            return f"coalesce(({left} {_SQL_OP[str(node.value)]} {right}), false)"
        if node.kind == "type" and ev:
            return f"({ev}.type = {self.bind(str(node.value))})"
        if node.kind == "within":
            what, dur = node.children
            return f"EXISTS ({self.events(what, dur, '1')})"
        if node.kind in ("since", "nosince"):
            return self.since(node)
        if node.kind == "lit" and isinstance(node.value, bool):
            return "true" if node.value else "false"
        if node.kind == "col" and not ev:
            return f"coalesce({self.column(str(node.value))}, false)"
        raise ExpressionError(f"{node.value!r} is not a condition; compare it with something")

    def since(self, node: Term) -> str:
        """``F since G``: G happened and F at or after its latest occurrence (``nosince``: G
        happened and no F since)."""
        what, anchor = node.children
        anchor_sql = self.cond(anchor, "g")
        what_sql = self.cond(what, "e")
        exists = "NOT EXISTS" if node.kind == "nosince" else "EXISTS"
        return (
            "EXISTS (SELECT 1 FROM (SELECT max(g.occurred_at) AS at FROM events g "
            f"WHERE g.profile_id = t.profile_id AND {anchor_sql}) a WHERE a.at IS NOT NULL "
            f"AND {exists} (SELECT 1 FROM events e WHERE e.profile_id = t.profile_id "
            f"AND e.occurred_at >= a.at AND {what_sql}))"
        )

    def events(self, what: Term, dur: Term, select: str) -> str:
        start = self.bind(self.now - timedelta(seconds=int(dur.value)))
        return (
            f"SELECT {select} FROM events e WHERE e.profile_id = t.profile_id "
            f"AND e.occurred_at > {start} AND {self.cond(what, 'e')}"
        )

    def value(self, node: Term, ev: str) -> str:
        if node.kind == "lit":
            return self.bind(node.value)
        if node.kind == "field" and ev:
            return _EVENT_FIELDS[str(node.value)].format(e=ev)
        if node.kind == "col" and not ev:
            return self.column(str(node.value))
        if node.kind == "agg":
            name, what = str(node.value), node.children[0]
            if name == "hours_since":
                now = self.bind(self.now)
                return (
                    f"(SELECT date_diff('second', max(e.occurred_at), {now}) / 3600.0 "
                    f"FROM events e WHERE e.profile_id = t.profile_id AND {self.cond(what, 'e')})"
                )
            select = "count(*)" if name == "count" else "coalesce(sum(e.revenue), 0)"
            return f"({self.events(what, node.children[1], select)})"
        if node.kind == "type":
            raise ExpressionError(
                f"{node.value!r} is not an event field (event, category, source, revenue, "
                'currency): quote a value, e.g. category = "coats"'
            )
        return f"({self.cond(node, ev)})"

    def column(self, name: str) -> str:
        if name not in self.columns:
            raise ExpressionError(f"unknown name {name!r}: not a trait, feature or score column")
        return self.columns[name]


def compile_rule(node: Term, columns: Mapping[str, str], now: datetime) -> Compiled:
    """The rule as SQL over ``t`` (one row per profile) with ``events e`` correlated by
    ``profile_id``; ``columns`` maps the names a rule may use to their SQL column."""
    comp = _Compiler(columns, now)
    sql = comp.cond(node)
    return Compiled(sql, comp.params)

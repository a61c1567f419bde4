"""A small SOQL reader for the query shapes a connector sends.

Supported: ``SELECT f1, f2, Parent.Field, COUNT() FROM Object [WHERE cond] [GROUP BY f1, f2]
[ORDER BY f [ASC|DESC] [NULLS FIRST|LAST]] [LIMIT n] [OFFSET n]``, the aggregate functions
``SUM, COUNT, COUNT_DISTINCT, MIN, MAX, AVG`` (with an alias or ``expr0``, ``expr1``...), where
``cond`` combines ``f = v``, ``!=``, ``<``,
``<=``, ``>``, ``>=``, ``LIKE``, ``IN (...)``, ``NOT IN (...)`` with AND, OR, NOT and
parentheses. Values: quoted strings, numbers, true/false, null, date and datetime literals and
the relative date literal ``LAST_N_DAYS:n``.
Errors carry the position so the caller can answer in Salesforce's own message style.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<relative>[A-Za-z_]+:\d+)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
    | (?P<op>!=|<>|<=|>=|=|<|>|\(|\)|,)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}
KEYWORDS = frozenset(
    {
        "select",
        "from",
        "where",
        "and",
        "or",
        "not",
        "in",
        "like",
        "order",
        "by",
        "asc",
        "desc",
        "limit",
        "offset",
        "nulls",
        "first",
        "last",
        "null",
        "true",
        "false",
        "includes",
        "excludes",
        "group",
    }
)


class SoqlError(Exception):
    """``kind`` is MALFORMED_QUERY, INVALID_FIELD or INVALID_TYPE; ``column`` is 1-based."""

    def __init__(self, kind: str, message: str, column: int) -> None:
        super().__init__(message)
        self.kind, self.message, self.column = kind, message, column


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    value: Any
    column: int


@dataclass
class Condition:
    """A leaf: field, operator, value(s)."""

    field: str
    op: str
    value: Any
    column: int


@dataclass
class BoolOp:
    op: str  # "and" | "or" | "not"
    parts: list[Condition | BoolOp]


AGGREGATES = frozenset({"sum", "count", "count_distinct", "min", "max", "avg"})


@dataclass(frozen=True)
class RelativeDate:
    """``LAST_N_DAYS:n`` as written (the evaluator turns it into a range of dates)."""

    name: str
    n: int


@dataclass(frozen=True)
class Aggregate:
    """``SUM(Amount) total``: the function (lowercase), its field, the column's name."""

    function: str
    field: str
    alias: str
    column: int


@dataclass
class Query:
    object_name: str
    object_column: int
    fields: list[tuple[str, int]]  # (name as written, column)
    count_only: bool = False
    where: Condition | BoolOp | None = None
    order_by: list[tuple[str, bool, bool, int]] = field(default_factory=list)
    # (field, descending, nulls_last, column)
    limit: int | None = None
    offset: int = 0
    aggregates: list[Aggregate] = field(default_factory=list)
    group_by: list[tuple[str, int]] = field(default_factory=list)


def _unescape(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            column = position + 1 + (len(text[position:]) - len(text[position:].lstrip()))
            rest = text[position:].strip()[:20]
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{rest}'", column)
        kind = match.lastgroup or "op"
        raw = match.group(kind)
        column = match.start(kind) + 1
        value: Any = raw
        if kind == "string":
            value = _unescape(raw)
        elif kind == "number":
            value = float(raw) if "." in raw else int(raw)
        elif kind == "relative":
            name, _, number = raw.partition(":")
            value = RelativeDate(name.upper(), int(number))
        elif kind == "name" and raw.lower() in KEYWORDS:
            kind = "keyword"
            value = raw.lower()
        tokens.append(Token(kind, raw, value, column))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.end_column = len(text) + 1

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query", self.end_column)
        self.index += 1
        return token

    def is_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "keyword" and token.value in words

    def expect_keyword(self, word: str) -> Token:
        token = self.take()
        if token.kind != "keyword" or token.value != word:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token.text}'", token.column)
        return token

    def expect_op(self, op: str) -> Token:
        token = self.take()
        if token.kind != "op" or token.text != op:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token.text}'", token.column)
        return token

    def name(self) -> Token:
        token = self.take()
        if token.kind != "name":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token.text}'", token.column)
        return token

    def parse(self) -> Query:
        self.expect_keyword("select")
        fields: list[tuple[str, int]] = []
        aggregates: list[Aggregate] = []
        count_only = False
        while True:
            token = self.name()
            opened = self.peek() is not None and self.peek().text == "("  # type: ignore[union-attr]
            if token.text.lower() == "count" and opened and self.tokens[self.index + 1].text == ")":
                self.expect_op("(")
                self.expect_op(")")
                count_only = True
            elif opened and token.text.lower() in AGGREGATES:
                self.expect_op("(")
                argument = self.name()
                self.expect_op(")")
                alias = f"expr{sum(1 for a in aggregates if a.alias.startswith('expr'))}"
                if self.peek() is not None and self.peek().kind == "name":  # type: ignore[union-attr]
                    alias = self.take().text
                aggregates.append(
                    Aggregate(token.text.lower(), argument.text, alias, argument.column)
                )
            else:
                fields.append((token.text, token.column))
            if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                continue
            break
        self.expect_keyword("from")
        obj = self.name()
        query = Query(obj.text, obj.column, fields, count_only, aggregates=aggregates)
        if self.is_keyword("where"):
            self.take()
            query.where = self.or_expr()
        if self.is_keyword("group"):
            self.take()
            self.expect_keyword("by")
            while True:
                grouped = self.name()
                query.group_by.append((grouped.text, grouped.column))
                if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                    self.take()
                    continue
                break
        if self.is_keyword("order"):
            self.take()
            self.expect_keyword("by")
            while True:
                ordered = self.name()
                descending = nulls_last = False
                if self.is_keyword("asc", "desc"):
                    descending = self.take().value == "desc"
                nulls_last = descending
                if self.is_keyword("nulls"):
                    self.take()
                    nulls_last = self.take().value == "last"
                query.order_by.append((ordered.text, descending, nulls_last, ordered.column))
                if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                    self.take()
                    continue
                break
        if self.is_keyword("limit"):
            self.take()
            query.limit = self.integer()
        if self.is_keyword("offset"):
            self.take()
            query.offset = self.integer()
        leftover = self.peek()
        if leftover is not None:
            raise SoqlError(
                "MALFORMED_QUERY", f"unexpected token: '{leftover.text}'", leftover.column
            )
        return query

    def integer(self) -> int:
        token = self.take()
        if token.kind != "number" or not isinstance(token.value, int) or token.value < 0:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token.text}'", token.column)
        return token.value

    def or_expr(self) -> Condition | BoolOp:
        parts = [self.and_expr()]
        while self.is_keyword("or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else BoolOp("or", parts)

    def and_expr(self) -> Condition | BoolOp:
        parts = [self.not_expr()]
        while self.is_keyword("and"):
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else BoolOp("and", parts)

    def not_expr(self) -> Condition | BoolOp:
        if self.is_keyword("not"):
            self.take()
            return BoolOp("not", [self.not_expr()])
        token = self.peek()
        if token is not None and token.text == "(":
            self.take()
            inner = self.or_expr()
            self.expect_op(")")
            return inner
        return self.condition()

    def literal(self) -> Any:
        token = self.take()
        if token.kind in ("string", "number", "date", "datetime", "relative"):
            return token.value
        if token.kind == "keyword" and token.value in ("null", "true", "false"):
            return {"null": None, "true": True, "false": False}[token.value]
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token.text}'", token.column)

    def condition(self) -> Condition:
        name = self.name()
        if self.is_keyword("not"):
            self.take()
            self.expect_keyword("in")
            return Condition(name.text, "not in", self.value_list(), name.column)
        if self.is_keyword("in"):
            self.take()
            return Condition(name.text, "in", self.value_list(), name.column)
        if self.is_keyword("like"):
            self.take()
            return Condition(name.text, "like", self.literal(), name.column)
        op = self.take()
        if op.kind != "op" or op.text not in ("=", "!=", "<>", "<", "<=", ">", ">="):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{op.text}'", op.column)
        return Condition(
            name.text, "!=" if op.text == "<>" else op.text, self.literal(), name.column
        )

    def value_list(self) -> list[Any]:
        self.expect_op("(")
        values = [self.literal()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.take()
            values.append(self.literal())
        self.expect_op(")")
        return values


def parse(text: str) -> Query:
    return _Parser(text).parse()


def conditions(node: Condition | BoolOp | None) -> list[Condition]:
    """Every leaf condition, for validating field names."""
    if node is None:
        return []
    if isinstance(node, Condition):
        return [node]
    return [leaf for part in node.parts for leaf in conditions(part)]


def like_matcher(pattern: str) -> Callable[[str], bool]:
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    compiled = re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL)
    return lambda text: bool(compiled.match(text))

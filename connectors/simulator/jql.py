"""The JQL subset the connector sends, parsed into a small query; anything else is rejected.

    query   := [expr] [ORDER BY (updated | key) [ASC]]
    expr    := term (AND term)*
    term    := "(" expr ")" | project = V | project in (V, ...) | updated >= "yyyy-MM-dd HH:mm"

Every clause is ANDed, so projects intersect and `updated` bounds take the latest one. Dates are
wall-clock times in the user's time zone; the caller localises them (see `JqlQuery.updated_from`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from connectors.simulator.protocol import BadRequest

_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>>=|<=|!=|[=<>~(),])"""
    r"""|(?P<word>[^\s"'=<>!~(),]+))"""
)
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
SUPPORTED = (
    'project = K, project in (K1, K2), updated >= "yyyy-MM-dd HH:mm", AND, '
    "parentheses, ORDER BY updated ASC | key ASC"
)


@dataclass(frozen=True, slots=True)
class JqlQuery:
    projects: frozenset[str] | None  # keys or ids as written (upper-cased); None: any project
    updated_from: datetime | None  # naive wall-clock time in the user's zone
    order: str  # "updated" or "key"

    @property
    def bounded(self) -> bool:
        return self.projects is not None or self.updated_from is not None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                raise self.error(f"unexpected character at position {pos}")
            kind = match.lastgroup or "word"
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.pos = 0
        self.projects: frozenset[str] | None = None
        self.updated: datetime | None = None

    def error(self, detail: str) -> BadRequest:
        return BadRequest(
            f"Error in the JQL Query: {detail}. The simulator supports only: {SUPPORTED}. "
            f"Query: {self.text!r}"
        )

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self, what: str) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise self.error(f"expected {what} but the query ended")
        self.pos += 1
        return token

    def is_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1].lower() in words

    def expect_op(self, op: str) -> None:
        kind, value = self.next(f"'{op}'")
        if kind != "op" or value != op:
            raise self.error(f"expected '{op}' but found {value!r}")

    def parse(self) -> JqlQuery:
        if self.peek() is not None and not self.is_word("order"):
            self.expr()
        order = "updated"
        if self.is_word("order"):
            self.pos += 1
            if not self.is_word("by"):
                raise self.error("expected BY after ORDER")
            self.pos += 1
            kind, field = self.next("an ORDER BY field")
            if kind != "word" or field.lower() not in ("updated", "key"):
                raise self.error(f"ORDER BY {field} is not supported")
            order = field.lower()
            if self.is_word("asc"):
                self.pos += 1
            elif self.is_word("desc"):
                raise self.error("ORDER BY ... DESC is not supported")
        token = self.peek()
        if token is not None:
            raise self.error(f"unexpected {token[1]!r}")
        return JqlQuery(self.projects, self.updated, order)

    def expr(self) -> None:
        self.term()
        while self.is_word("and"):
            self.pos += 1
            self.term()
        if self.is_word("or", "not"):
            raise self.error(f"{self.peek()[1].upper()} is not supported")  # type: ignore[index]

    def term(self) -> None:
        kind, value = self.next("a clause")
        if kind == "op" and value == "(":
            self.expr()
            self.expect_op(")")
            return
        if kind != "word":
            raise self.error(f"unexpected {value!r}")
        field = value.lower()
        if field == "project":
            self.project_clause()
        elif field == "updated":
            self.updated_clause()
        else:
            raise self.error(f"the field {value!r} is not supported")

    def project_clause(self) -> None:
        kind, op = self.next("an operator after project")
        if kind == "op" and op == "=":
            refs = {self.value()}
        elif kind == "word" and op.lower() == "in":
            self.expect_op("(")
            refs = {self.value()}
            while True:
                kind, value = self.next("',' or ')'")
                if kind == "op" and value == ")":
                    break
                if kind != "op" or value != ",":
                    raise self.error(f"expected ',' or ')' but found {value!r}")
                refs.add(self.value())
        else:
            raise self.error(f"the operator {op!r} is not supported for project")
        upper = frozenset(r.upper() for r in refs)
        self.projects = upper if self.projects is None else self.projects & upper

    def updated_clause(self) -> None:
        kind, op = self.next("an operator after updated")
        if kind != "op" or op != ">=":
            raise self.error(f"the operator {op!r} is not supported for updated (use >=)")
        raw = self.value()
        for fmt in _DATE_FORMATS:
            try:
                when = datetime.strptime(raw, fmt)  # noqa: DTZ007 - wall clock in the user's zone
            except ValueError:
                continue
            self.updated = when if self.updated is None else max(self.updated, when)
            return
        raise self.error(f'date value {raw!r} is invalid; use "yyyy-MM-dd HH:mm"')

    def value(self) -> str:
        kind, value = self.next("a value")
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "word" and value.lower() not in ("and", "or", "not", "order", "in"):
            return value
        raise self.error(f"expected a value but found {value!r}")


def parse_jql(text: str | None) -> JqlQuery:
    """Parse the supported subset; raises BadRequest (answered as 400) for anything else."""
    return _Parser(text or "").parse()

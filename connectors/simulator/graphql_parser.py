"""GraphQL query documents: a tokenizer and a recursive-descent parser for the query subset the
simulator executes (operations with variables, aliases, arguments, fragments, directives)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r'(?P<skip>[\s,\ufeff]+|#[^\n\r]*)|(?P<block>"""(?:[^"\\]|\\.|"(?!""))*""")'
    r'|(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)'
    r"|(?P<name>[_A-Za-z][_0-9A-Za-z]*)|(?P<punct>\.\.\.|[!$&()\:=@\[\]{|}])"
)


class GraphQLError(Exception):
    """A request-level error (parse or validation): the answer has `errors` and no `data`."""

    def __init__(self, message: str, line: int = 1, column: int = 1, **extra: Any) -> None:
        super().__init__(message)
        self.payload: dict[str, Any] = {
            "message": message,
            "locations": [{"line": line, "column": column}],
            **extra,
        }


@dataclass(frozen=True, slots=True)
class Var:
    name: str


@dataclass(slots=True)
class Field:
    alias: str
    name: str
    args: dict[str, Any]
    directives: dict[str, dict[str, Any]]
    selections: list[Any] | None
    line: int
    column: int


@dataclass(slots=True)
class Fragment:
    type_condition: str | None  # None on inline fragments without a condition
    directives: dict[str, dict[str, Any]]
    selections: list[Any] | None = None
    spread: str | None = None  # named spread: resolved from the document


@dataclass(slots=True)
class Operation:
    kind: str
    name: str | None
    variables: dict[str, Any]  # name -> default value (None when absent)
    selections: list[Any]


@dataclass(slots=True)
class Document:
    operations: list[Operation] = field(default_factory=list)
    fragments: dict[str, Fragment] = field(default_factory=dict)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str, int, int]] = []
        line, line_start, pos = 1, 0, 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:
                raise GraphQLError(f"Parse error on {text[pos]!r}", line, pos - line_start + 1)
            kind = match.lastgroup or "skip"
            if kind != "skip":
                self.tokens.append((kind, match.group(), line, pos - line_start + 1))
            newlines = match.group().count("\n")
            if newlines:
                line += newlines
                line_start = pos + match.group().rfind("\n") + 1
            pos = match.end()
        self.pos = 0

    def peek(self) -> tuple[str, str, int, int] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None, kind: str | None = None) -> tuple[str, str, int, int]:
        token = self.peek()
        if token is None:
            raise GraphQLError("Parse error on end of input", *self._where())
        if (value is not None and token[1] != value) or (kind is not None and token[0] != kind):
            raise GraphQLError(
                f'Parse error on "{token[1]}" ({token[0].upper()}) at [{token[2]}, {token[3]}]',
                token[2],
                token[3],
            )
        self.pos += 1
        return token

    def _where(self) -> tuple[int, int]:
        last = self.tokens[-1] if self.tokens else ("", "", 1, 1)
        return last[2], last[3]

    def is_(self, value: str) -> bool:
        token = self.peek()
        return token is not None and token[1] == value and token[0] in ("punct", "name")

    def document(self) -> Document:
        doc = Document()
        while self.peek() is not None:
            if self.is_("fragment"):
                self.take()
                name = self.take(kind="name")[1]
                self.take("on")
                condition = self.take(kind="name")[1]
                directives = self.directives()
                doc.fragments[name] = Fragment(condition, directives, self.selection_set())
            elif self.is_("{"):
                doc.operations.append(Operation("query", None, {}, self.selection_set()))
            else:
                op_kind = self.take(kind="name")[1]
                if op_kind != "query":
                    raise GraphQLError(f"The simulator supports queries only, not {op_kind}")
                token = self.peek()
                op_name = self.take()[1] if token is not None and token[0] == "name" else None
                variables = self.variable_definitions()
                self.directives()
                doc.operations.append(Operation(op_kind, op_name, variables, self.selection_set()))
        return doc

    def variable_definitions(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if not self.is_("("):
            return out
        self.take("(")
        while not self.is_(")"):
            self.take("$")
            name = self.take(kind="name")[1]
            self.take(":")
            self.type_ref()
            out[name] = None
            if self.is_("="):
                self.take("=")
                out[name] = self.value(const=True)
        self.take(")")
        return out

    def type_ref(self) -> None:
        if self.is_("["):
            self.take("[")
            self.type_ref()
            self.take("]")
        else:
            self.take(kind="name")
        if self.is_("!"):
            self.take("!")

    def selection_set(self) -> list[Any]:
        self.take("{")
        out: list[Any] = []
        while not self.is_("}"):
            if self.is_("..."):
                self.take("...")
                if self.is_("on"):
                    self.take("on")
                    condition = self.take(kind="name")[1]
                    out.append(Fragment(condition, self.directives(), self.selection_set()))
                elif self.is_("{") or self.is_("@"):
                    out.append(Fragment(None, self.directives(), self.selection_set()))
                else:
                    name = self.take(kind="name")[1]
                    out.append(Fragment(None, self.directives(), spread=name))
                continue
            _, name, line, column = self.take(kind="name")
            alias = name
            if self.is_(":"):
                self.take(":")
                name = self.take(kind="name")[1]
            args = self.arguments()
            directives = self.directives()
            selections = self.selection_set() if self.is_("{") else None
            out.append(Field(alias, name, args, directives, selections, line, column))
        self.take("}")
        return out

    def arguments(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.is_("("):
            self.take("(")
            while not self.is_(")"):
                name = self.take(kind="name")[1]
                self.take(":")
                out[name] = self.value()
            self.take(")")
        return out

    def directives(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        while self.is_("@"):
            self.take("@")
            name = self.take(kind="name")[1]  # before arguments(): `d[k] = v` evaluates v first
            out[name] = self.arguments()
        return out

    def value(self, const: bool = False) -> Any:
        kind, text, line, column = self.take()
        if kind == "punct" and text == "$" and not const:
            return Var(self.take(kind="name")[1])
        if kind == "num":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "str":
            return json.loads(text)
        if kind == "block":
            return text[3:-3].replace('\\"""', '"""')
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(text, text)  # enums: strings
        if text == "[":
            items = []
            while not self.is_("]"):
                items.append(self.value(const))
            self.take("]")
            return items
        if text == "{":
            obj = {}
            while not self.is_("}"):
                key = self.take(kind="name")[1]
                self.take(":")
                obj[key] = self.value(const)
            self.take("}")
            return obj
        raise GraphQLError(f'Parse error on "{text}" at [{line}, {column}]', line, column)


def parse(query: str) -> Document:
    return _Parser(query).document()


def pick_operation(doc: Document, name: str | None) -> Operation:
    if name:
        for op in doc.operations:
            if op.name == name:
                return op
        raise GraphQLError(f'No operation named "{name}"')
    if len(doc.operations) != 1:
        raise GraphQLError("An operation name is required" if doc.operations else "No operations")
    return doc.operations[0]

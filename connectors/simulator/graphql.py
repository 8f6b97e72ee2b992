"""A small GraphQL executor: parses a query document and projects it onto resolver objects.

Objects are dicts (`__typename` names the type); a value that is callable is a field resolver,
called with the field's evaluated arguments. Only the fields a query selects are returned, as
GitHub does, and selecting a field the simulator does not serve is an error rather than a silent
null. Supported: operations with variables and defaults, aliases, arguments, named and inline
fragments, @include/@skip. Not supported (not needed): mutations, subscriptions, introspection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connectors.simulator.graphql_parser import (
    Document,
    Field,
    Fragment,
    GraphQLError,
    Operation,
    Var,
)


class FieldError(Exception):
    """A field-level error: the field becomes null and the error lists its path."""

    def __init__(self, message: str, type_: str = "NOT_FOUND") -> None:
        super().__init__(message)
        self.message = message
        self.type = type_


def evaluate(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, Var):
        return variables.get(value.name)
    if isinstance(value, list):
        return [evaluate(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: evaluate(v, variables) for k, v in value.items()}
    return value


class Executor:
    def __init__(
        self,
        doc: Document,
        op: Operation,
        variables: Mapping[str, Any] | None,
        implements: Mapping[str, frozenset[str]],
    ) -> None:
        self.doc = doc
        self.op = op
        self.variables = {**op.variables, **(variables or {})}
        self.implements = implements
        self.errors: list[dict[str, Any]] = []
        self._plans: dict[tuple[str, int], list[tuple[str, Field, list[Any]]]] = {}
        self._keep: list[list[Any]] = []
        self._last: dict[int, tuple[str, list[tuple[str, Field, list[Any]]]]] = {}

    def run(self, root: dict[str, Any]) -> dict[str, Any]:
        data = self.complete(root, self.op.selections, None)
        return {"data": data, "errors": self.errors} if self.errors else {"data": data}

    def cost(self) -> tuple[int, int]:
        """(GitHub's rate-limit cost, node count): one request per connection per parent."""
        requests = nodes = 0

        def walk(selections: list[Any], multiplier: int) -> None:
            nonlocal requests, nodes
            for sel in selections:
                if isinstance(sel, Fragment):
                    if sel.spread is None:
                        walk(sel.selections or [], multiplier)
                    elif sel.spread in self.doc.fragments:  # undefined: reported on execution
                        walk(self.doc.fragments[sel.spread].selections or [], multiplier)
                    continue
                size = evaluate(sel.args.get("first", sel.args.get("last")), self.variables)
                child = multiplier
                if isinstance(size, int):
                    requests += multiplier
                    child = multiplier * size
                    nodes += child
                walk(sel.selections or [], child)

        walk(self.op.selections, 1)
        return max(1, int(requests / 100 + 0.5)), nodes

    def _included(self, directives: dict[str, dict[str, Any]]) -> bool:
        if "skip" in directives and evaluate(directives["skip"].get("if"), self.variables):
            return False
        return not (
            "include" in directives
            and not evaluate(directives["include"].get("if"), self.variables)
        )

    def _collect(self, typename: str, selections: list[Any], out: dict[str, list[Field]]) -> None:
        for sel in selections:
            if not self._included(sel.directives):
                continue
            if isinstance(sel, Field):
                out.setdefault(sel.alias, []).append(sel)
                continue
            if sel.spread is not None:
                fragment = self.doc.fragments.get(sel.spread)
                if fragment is None:
                    raise GraphQLError(f"Fragment {sel.spread} was used, but not defined")
                if self._applies(fragment.type_condition, typename):
                    self._collect(typename, fragment.selections or [], out)
            elif self._applies(sel.type_condition, typename):
                self._collect(typename, sel.selections or [], out)

    def _applies(self, condition: str | None, typename: str) -> bool:
        return (
            condition is None
            or condition == typename
            or condition in self.implements.get(typename, frozenset())
        )

    def _plan(self, typename: str, selections: list[Any]) -> list[tuple[str, Field, list[Any]]]:
        """(response key, field, merged sub-selections) per key; cached because every node of a
        list shares one selection set (this is the executor's hot path)."""
        last = self._last.get(id(selections))
        if last is not None and last[0] == typename:
            return last[1]
        cache_key = (typename, id(selections))
        plan = self._plans.get(cache_key)
        if plan is None:
            grouped: dict[str, list[Field]] = {}
            self._collect(typename, selections, grouped)
            plan = []
            for key, fields in grouped.items():
                merged = fields[0].selections or []
                if len(fields) > 1:
                    merged = [s for f in fields for s in (f.selections or [])]
                plan.append((key, fields[0], merged))
            self._plans[cache_key] = plan
            self._keep.append(selections)  # keeps id(selections) from being reused
        self._last[id(selections)] = (typename, plan)
        return plan

    def complete(self, obj: dict[str, Any], selections: list[Any], path: Path) -> dict[str, Any]:
        typename = obj.get("__typename", "Object")
        out: dict[str, Any] = {}
        for key, first, merged in self._plan(typename, selections):
            name = first.name
            if name == "__typename":
                out[key] = typename
                continue
            if name not in obj:
                raise GraphQLError(
                    f"Field '{name}' doesn't exist on type '{typename}'",
                    first.line,
                    first.column,
                    path=_flatten((path, key)),
                    extensions={"code": "undefinedField", "typeName": typename, "fieldName": name},
                )
            value = obj[name]
            if callable(value):
                try:
                    value = value(evaluate(first.args, self.variables))
                except FieldError as exc:
                    self._error(exc, first, (path, key))
                    out[key] = None
                    continue
            elif first.args:
                raise GraphQLError(
                    f"Field '{name}' doesn't accept argument '{next(iter(first.args))}'",
                    first.line,
                    first.column,
                )
            if value is None or type(value) in _SCALARS:  # the common case, without a call
                if first.selections and value is not None:
                    raise GraphQLError(
                        f"Selections can't be made on scalars (field '{name}')",
                        first.line,
                        first.column,
                    )
                out[key] = value
            else:
                out[key] = self._value(value, first, merged, (path, key))
        return out

    def _error(self, exc: FieldError, fld: Field, path: Path) -> None:
        self.errors.append(
            {
                "type": exc.type,
                "path": _flatten(path),
                "locations": [{"line": fld.line, "column": fld.column}],
                "message": exc.message,
            }
        )

    def _value(self, value: Any, fld: Field, selections: list[Any], path: Path) -> Any:
        if value is None:
            return None
        if isinstance(value, dict):
            if not selections:
                raise GraphQLError(
                    f"Field must have selections (field '{fld.name}' returns "
                    f"{value.get('__typename', 'an object')} but has no selections)",
                    fld.line,
                    fld.column,
                )
            return self.complete(value, selections, path)
        if isinstance(value, list):
            return [self._value(v, fld, selections, (path, n)) for n, v in enumerate(value)]
        if isinstance(value, FieldError):  # one missing element of a list (`nodes(ids:)`)
            self._error(value, fld, path)
            return None
        if fld.selections:
            raise GraphQLError(
                f"Selections can't be made on scalars (field '{fld.name}')", fld.line, fld.column
            )
        return value


_SCALARS = frozenset({str, int, float, bool})
Path = tuple[Any, ...] | None  # (parent path, key): built without copying, flattened on errors


def _flatten(path: Path) -> list[Any]:
    out: list[Any] = []
    while path is not None:
        path, key = path
        out.append(key)
    return out[::-1]


Resolver = Callable[[dict[str, Any]], Any]

"""Atlassian Document Format (Jira Cloud v3 rich text) rendered as plain text.

The text is what users read and what gets embedded, so structure that carries meaning survives
as plain-text conventions (list bullets, table cells, mentions by name, links by URL) and
presentation (marks, colours, media) is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["adf_to_text", "rich_text"]

_BLOCKS = frozenset(
    {
        "paragraph",
        "heading",
        "codeBlock",
        "blockquote",
        "panel",
        "rule",
        "bulletList",
        "orderedList",
        "table",
        "mediaSingle",
        "mediaGroup",
        "expand",
        "nestedExpand",
        "decisionList",
        "taskList",
        "blockCard",
        "embedCard",
    }
)
_INLINE_ONLY = frozenset(
    {"text", "hardBreak", "mention", "emoji", "inlineCard", "status", "date", "placeholder"}
)
_LISTS = frozenset({"bulletList", "orderedList", "taskList", "decisionList"})
_BLANK_RUNS = re.compile(r"\n{3,}")


def rich_text(value: Any) -> str | None:
    """A Jira rich-text field as plain text: ADF documents are rendered, strings (API v2 and
    Server/DC wiki markup) are kept as they are; empty text is None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        return adf_to_text(value) or None
    return str(value)


def adf_to_text(doc: Mapping[str, Any]) -> str:
    out: list[str] = []
    _render(doc, out, indent="")
    text = "".join(out)
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def _children(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    content = node.get("content")
    if not isinstance(content, list):
        return []
    return [c for c in content if isinstance(c, Mapping)]


def _inline(node: Mapping[str, Any]) -> str:
    """The text of one inline node (or of a block's inline children)."""
    kind = node.get("type")
    attrs = node.get("attrs")
    if not isinstance(attrs, Mapping):
        attrs = {}
    if kind == "text":
        return str(node.get("text") or "")
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        return str(attrs.get("text") or "@" + str(attrs.get("id") or "user"))
    if kind == "emoji":
        return str(attrs.get("text") or attrs.get("shortName") or "")
    if kind in ("inlineCard", "blockCard", "embedCard"):
        return str(attrs.get("url") or "")
    if kind in ("status", "placeholder"):
        return str(attrs.get("text") or "")
    if kind == "date":
        return str(attrs.get("timestamp") or "")
    return "".join(_inline(c) for c in _children(node))


def _render(node: Mapping[str, Any], out: list[str], indent: str) -> None:
    kind = node.get("type")
    if kind in _INLINE_ONLY:
        out.append(_inline(node))
    elif kind in ("paragraph", "heading", "codeBlock", "blockCard", "embedCard"):
        out.append(indent + _inline(node) + "\n\n")
    elif kind == "rule":
        out.append(indent + "---\n\n")
    elif kind in _LISTS:
        for number, item in enumerate(_children(node), start=1):
            bullet = f"{number}. " if kind == "orderedList" else "- "
            _list_item(item, out, indent, bullet)
        out.append("\n")
    elif kind == "table":
        for row in _children(node):
            cells = [adf_to_text(cell).replace("\n", " ") for cell in _children(row)]
            out.append(indent + " | ".join(cells) + "\n")
        out.append("\n")
    elif kind == "blockquote":
        inner: list[str] = []
        for child in _children(node):
            _render(child, inner, "")
        quoted = "".join(inner).strip().split("\n")
        out.append("".join(f"{indent}> {line}\n" for line in quoted) + "\n")
    else:  # doc, panel, expand, media, unknown containers: their content
        title = _expand_title(node) if kind in ("expand", "nestedExpand") else None
        if title:
            out.append(f"{indent}{title}\n\n")
        for child in _children(node):
            _render(child, out, indent)


def _expand_title(node: Mapping[str, Any]) -> str | None:
    attrs = node.get("attrs")
    return str(attrs["title"]) if isinstance(attrs, Mapping) and attrs.get("title") else None


def _list_item(item: Mapping[str, Any], out: list[str], indent: str, bullet: str) -> None:
    children = _children(item)
    if not any(c.get("type") in _BLOCKS for c in children):  # taskItem: inline content
        out.append(f"{indent}{bullet}{_inline(item).strip()}\n")
        return
    first = True
    for child in children:
        if child.get("type") in _LISTS:
            nested: list[str] = []
            _render(child, nested, indent + "  ")
            out.append("".join(nested).rstrip("\n") + "\n")
            continue
        text = adf_to_text(child).replace("\n", " ").strip()
        if first:
            out.append(f"{indent}{bullet}{text}\n")
            first = False
        elif text:
            out.append(f"{indent}  {text}\n")

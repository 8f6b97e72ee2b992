from __future__ import annotations

from typing import Any

from dataflows.rules import adf_to_text, rich_text


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def para(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def doc(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(content)}


def test_paragraphs_marks_mentions_and_links() -> None:
    body = doc(
        {"type": "heading", "attrs": {"level": 2}, "content": [text("Goal")]},
        para(
            text("Ask "),
            {"type": "mention", "attrs": {"id": "acc-1", "text": "@Zoë"}},
            text(" about "),
            text("the API", marks=[{"type": "strong"}]),
            {"type": "hardBreak"},
            {"type": "inlineCard", "attrs": {"url": "https://example.com/spec"}},
            {"type": "emoji", "attrs": {"shortName": ":ok:", "text": "👌"}},
        ),
    )
    assert adf_to_text(body) == "Goal\n\nAsk @Zoë about the API\nhttps://example.com/spec👌"


def test_lists_tables_code_quotes_and_rules() -> None:
    body = doc(
        {
            "type": "bulletList",
            "content": [
                {"type": "listItem", "content": [para(text("one"))]},
                {
                    "type": "listItem",
                    "content": [
                        para(text("two")),
                        {
                            "type": "orderedList",
                            "content": [{"type": "listItem", "content": [para(text("two.a"))]}],
                        },
                    ],
                },
            ],
        },
        {"type": "codeBlock", "attrs": {"language": "sql"}, "content": [text("SELECT 1;")]},
        {"type": "blockquote", "content": [para(text("quoted"))]},
        {"type": "rule"},
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableHeader", "content": [para(text("k"))]},
                        {"type": "tableHeader", "content": [para(text("v"))]},
                    ],
                },
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableCell", "content": [para(text("a"))]},
                        {"type": "tableCell", "content": [para(text("1"))]},
                    ],
                },
            ],
        },
        {
            "type": "taskList",
            "content": [{"type": "taskItem", "attrs": {"state": "DONE"}, "content": [text("t")]}],
        },
        {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "x"}}]},
        {"type": "panel", "content": [para(text("note"))]},
    )
    assert adf_to_text(body) == (
        "- one\n- two\n  1. two.a\n\nSELECT 1;\n\n> quoted\n\n---\n\nk | v\na | 1\n\n- t\n\nnote"
    )


def test_unknown_nodes_keep_their_text_and_empty_docs_are_none() -> None:
    assert adf_to_text(doc({"type": "futureBlock", "content": [para(text("kept"))]})) == "kept"
    assert rich_text(doc()) is None
    assert rich_text(doc(para())) is None
    assert rich_text("") is None
    assert rich_text("wiki *markup*") == "wiki *markup*"
    assert rich_text(None) is None

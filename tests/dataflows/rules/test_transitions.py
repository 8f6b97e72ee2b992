from __future__ import annotations

import random

import pytest

from dataflows.rules import RecordError, status_transitions, transition_rows

from .helpers import CONFIG, STEP, at, history, meta, status_item

ROW_KEYS = {
    "tenant_id",
    "integration_id",
    "work_item_external_id",
    "seq",
    "history_id",
    "from_status",
    "to_status",
    "from_step",
    "to_step",
    "entered_from_at",
    "transitioned_at",
    "seconds_in_from_status",
    "author",
}


def transitions(histories, created: float = 0, config=CONFIG):
    return status_transitions(histories, created_at=at(created), config=config, meta=meta())


def test_no_status_change_means_no_transitions() -> None:
    field_only = [history(1, 2, {"field": "summary", "fromString": "a", "toString": "b"})]
    assert transitions([]) == []
    assert transitions(field_only) == []


def test_timeline_starts_at_creation_and_attributes_time_to_the_status_left() -> None:
    result = transitions(
        [
            history(7, 10, status_item("In Progress", "Done")),
            history(5, 4, status_item("To Do", "In Progress")),
        ],
        created=1,
    )
    first, second = result
    assert (first.seq, first.from_status, first.to_status) == (1, "To Do", "In Progress")
    assert first.entered_from_at == at(1)
    assert first.transitioned_at == at(4)
    assert first.seconds_in_from_status == 3 * 3600
    assert (first.from_step, first.to_step) == (STEP["To Do"], STEP["In Progress"])
    assert (second.seq, second.entered_from_at, second.seconds_in_from_status) == (
        2,
        at(4),
        6 * 3600,
    )
    assert (first.from_status_id, first.to_status_id) == ("id-To Do", "id-In Progress")


def test_interval_starts_at_the_previous_status_change_not_any_field_change() -> None:
    result = transitions(
        [
            history(1, 1, status_item("To Do", "In Progress")),
            history(2, 3, {"field": "assignee", "fromString": None, "toString": "Bo"}),
            history(3, 4, {"field": "labels", "fromString": "", "toString": "x"}),
            history(4, 6, status_item("In Progress", "Done")),
        ]
    )
    assert [t.history_id for t in result] == ["1", "4"]
    assert result[1].entered_from_at == at(1)
    assert result[1].seconds_in_from_status == 5 * 3600


def test_order_is_created_then_numeric_history_id_whatever_the_payload_order() -> None:
    ordered = [
        history(9, 2, status_item("To Do", "In Progress")),
        history(10, 2, status_item("In Progress", "Code Review")),  # same instant: 9 before 10
        history(11, 3, status_item("Code Review", "Done")),
        history(2, 5, status_item("Done", "In Progress")),  # a smaller id, but later
    ]
    expected = [(t.from_status, t.to_status) for t in transitions(ordered)]
    assert expected == [
        ("To Do", "In Progress"),
        ("In Progress", "Code Review"),
        ("Code Review", "Done"),
        ("Done", "In Progress"),
    ]
    shuffled = ordered[:]
    random.Random(4).shuffle(shuffled)
    assert [(t.from_status, t.to_status) for t in transitions(shuffled)] == expected
    assert [(t.from_status, t.to_status) for t in transitions(ordered[::-1])] == expected


def test_several_status_items_in_one_history_are_several_transitions() -> None:
    result = transitions(
        [history(1, 2, status_item("To Do", "In Progress"), status_item("In Progress", "Done"))]
    )
    assert [(t.seq, t.to_status, t.seconds_in_from_status) for t in result] == [
        (1, "In Progress", 7200),
        (2, "Done", 0),
    ]


def test_history_stamped_before_creation_gets_no_negative_time() -> None:
    (only,) = transitions([history(1, 1, status_item("To Do", "Done"))], created=3)
    assert only.entered_from_at == only.transitioned_at == at(1)
    assert only.seconds_in_from_status == 0


def test_unmapped_statuses_keep_their_names_without_a_step() -> None:
    (only,) = transitions([history(1, 1, status_item("QUESTION", "处理中"))])
    assert (only.from_status, only.from_step) == ("QUESTION", None)
    assert (only.to_status, only.to_step) == ("处理中", STEP["In Progress"])


def test_author_is_optional() -> None:
    (only,) = transitions([history(1, 1, status_item("To Do", "Done"), author=None)])
    assert only.author is None


def test_a_status_item_without_target_name_is_a_record_error() -> None:
    broken = history(77, 1, {"field": "status", "fromString": "To Do", "toString": None})
    with pytest.raises(RecordError, match=r"histories\[id=77\].*toString is missing"):
        transitions([broken])


def test_a_status_history_without_time_is_a_record_error() -> None:
    broken = history(78, 1, status_item("To Do", "Done"))
    broken["created"] = "yesterday"
    with pytest.raises(RecordError, match=r"histories\[id=78\]\.created is not a timestamp"):
        transitions([broken])


def test_rows_carry_the_parent_key_and_exact_columns() -> None:
    result = transitions([history(1, 1, status_item("Open", "Closed"))])
    (row,) = transition_rows(result, {"tenant_id": 3, "integration_id": 11}, "10001")
    assert set(row) == ROW_KEYS
    assert row["work_item_external_id"] == "10001"
    assert (row["from_step"], row["to_step"]) == ("Backlog", "Done")
    assert row["entered_from_at"].tzinfo is not None

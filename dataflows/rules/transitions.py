"""Status transitions from an issue's full changelog.

Histories are sorted by `created`, then by history id (numerically when the ids are numbers),
whatever order the payload holds them in (search results embed newest first, the changelog
endpoints answer oldest first). Only items with `field == "status"` are transitions; a history
with several status items yields one transition per item, in item order.

Time is attributed to the status being *left*: the timeline starts at creation in the first
transition's "from" status, and each transition closes the interval that began when its "from"
status was entered, i.e. at the previous *status* transition (never at a change of any other
field), or at creation for the first one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dataflows.rules._payload import (
    RecordMeta,
    Row,
    as_dict,
    as_list,
    opt_text,
    require_text,
    require_time,
    whole_seconds,
)
from pulse.tenant_config import TenantConfig, WorkflowStep

__all__ = ["Transition", "status_transitions", "transition_rows"]


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 12 object.__setattr__ calls
class Transition:
    seq: int  # 1-based position in the item's timeline
    history_id: str | None
    from_status_id: str | None
    from_status: str | None
    to_status_id: str | None
    to_status: str
    from_step: WorkflowStep | None  # None: the status is not mapped
    to_step: WorkflowStep | None
    entered_from_at: datetime  # when the "from" status was entered
    transitioned_at: datetime
    seconds_in_from_status: int
    author: str | None


def _history_order(history: Mapping[str, Any], created: datetime) -> tuple[Any, ...]:
    ident = str(history.get("id") or "")
    # Numeric ids compare as numbers ("9" < "10"); other ids after them, as text.
    return (created, (0, int(ident), "") if ident.isdigit() else (1, 0, ident))


def status_transitions(
    histories: Iterable[Any],
    *,
    created_at: datetime,
    config: TenantConfig,
    meta: RecordMeta,
) -> list[Transition]:
    """The item's status transitions, oldest first. An item whose status never changed has
    none (its whole life is in the status it has now)."""
    dated: list[tuple[tuple[Any, ...], Mapping[str, Any], datetime]] = []
    for position, raw in enumerate(histories):
        history = as_dict(raw)
        if history is None:
            raise meta.error(f"changelog.histories[{position}]", "is not an object")
        items = [as_dict(i) or {} for i in as_list(history.get("items"))]
        if not any(i.get("field") == "status" for i in items):
            continue
        field = f"changelog.histories[id={history.get('id')}].created"
        when = require_time(meta, history.get("created"), field)
        dated.append((_history_order(history, when), history, when))
    dated.sort(key=lambda entry: entry[0])

    out: list[Transition] = []
    entered = created_at
    for _, history, when in dated:
        history_id = opt_text(history.get("id"))
        author = opt_text((as_dict(history.get("author")) or {}).get("displayName"))
        for item in (as_dict(i) or {} for i in as_list(history.get("items"))):
            if item.get("field") != "status":
                continue
            field = f"changelog.histories[id={history_id}].items[status].toString"
            to_status = require_text(meta, item.get("toString"), field)
            from_status = opt_text(item.get("fromString"))
            start = min(entered, when)  # a history stamped before creation (imports)
            out.append(
                Transition(
                    seq=len(out) + 1,
                    history_id=history_id,
                    from_status_id=opt_text(item.get("from")),
                    from_status=from_status,
                    to_status_id=opt_text(item.get("to")),
                    to_status=to_status,
                    from_step=config.resolve_status(meta.integration_id, from_status),
                    to_step=config.resolve_status(meta.integration_id, to_status),
                    entered_from_at=start,
                    transitioned_at=when,
                    seconds_in_from_status=whole_seconds(start, when),
                    author=author,
                )
            )
            entered = when
    return out


def transition_rows(
    transitions: Sequence[Transition], scope: Row, work_item_external_id: str
) -> list[Row]:
    """`work_item_transitions` rows; the loader resolves `work_item_external_id` to the id."""
    return [
        {
            **scope,
            "work_item_external_id": work_item_external_id,
            "seq": t.seq,
            "history_id": t.history_id,
            "from_status": t.from_status,
            "to_status": t.to_status,
            "from_step": t.from_step.name if t.from_step else None,
            "to_step": t.to_step.name if t.to_step else None,
            "entered_from_at": t.entered_from_at,
            "transitioned_at": t.transitioned_at,
            "seconds_in_from_status": t.seconds_in_from_status,
            "author": t.author,
        }
        for t in transitions
    ]

"""Timestamps go in aware and come out aware UTC, whatever the dialect and the input offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import StatementError

from storage.schema import Base

HEARTBEATS = Base.metadata.tables["worker_heartbeats"]
SHANGHAI = timezone(timedelta(hours=8))


def _heartbeat(name: str, moment: datetime) -> dict[str, object]:
    return {
        "name": name,
        "kind": "transform",
        "host": "test",
        "pid": 1,
        "started_at": moment,
        "beat_at": moment,
    }


def test_a_naive_datetime_is_refused(engine: Engine) -> None:
    naive = datetime(2024, 3, 1, 12, 0)
    with pytest.raises(StatementError, match="naive datetime"), engine.begin() as conn:
        conn.execute(insert(HEARTBEATS).values(_heartbeat("naive", naive)))
    with engine.connect() as conn:
        assert conn.scalar(select(HEARTBEATS.c.name)) is None, "nothing was stored"


@pytest.mark.parametrize(
    "given",
    [
        datetime(2024, 3, 1, 4, 30, 0, 123456, tzinfo=SHANGHAI),
        datetime(2024, 2, 29, 20, 30, 0, 123456, tzinfo=UTC),
        datetime(2024, 2, 29, 15, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-5))),
    ],
    ids=["+08:00", "UTC", "-05:00"],
)
def test_the_same_instant_comes_back_as_aware_utc(engine: Engine, given: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(insert(HEARTBEATS).values(_heartbeat("w", given)))
    with engine.connect() as conn:
        back = conn.scalar(select(HEARTBEATS.c.beat_at))
        raw = conn.scalar(text("SELECT beat_at FROM worker_heartbeats"))

    expected = datetime(2024, 2, 29, 20, 30, 0, 123456, tzinfo=UTC)
    assert back == expected
    assert back.tzinfo is UTC
    if engine.dialect.name == "sqlite":
        # SQLite keeps no offset: what another reader sees must be the UTC wall time.
        assert raw == "2024-02-29 20:30:00.123456"
    else:
        assert raw == expected  # a timestamptz: the same instant

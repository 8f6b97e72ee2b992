"""A rate budget shared through the database: one row per credential, updated atomically, so
every job and every extract process using one credential draws from the same budget."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from storage.schema import RateBudgetRow


def _now() -> datetime:
    return datetime.now(UTC)


class SharedRateBudget:
    """Implements `connectors.budget.RateBudget` on the `rate_budgets` table.

    While nothing is known about a credential (first call, or after its reset time) requests
    are granted; the server's figures, reported through `observe`, then bound the budget.
    `floor` keeps a reserve for interactive calls such as "test connection".
    """

    def __init__(self, factory: sessionmaker[Session], fingerprint: str, *, floor: int = 0) -> None:
        self._factory = factory
        self._fingerprint = fingerprint
        self._floor = floor

    def reserve(self, cost: int = 1) -> datetime | None:
        now = _now()
        with self._factory() as session, session.begin():
            granted = session.execute(
                update(RateBudgetRow)
                .where(
                    RateBudgetRow.credential_fingerprint == self._fingerprint,
                    RateBudgetRow.remaining.is_not(None),
                    RateBudgetRow.remaining - cost >= self._floor,
                    (RateBudgetRow.reset_at.is_(None)) | (RateBudgetRow.reset_at > now),
                )
                .values(remaining=RateBudgetRow.remaining - cost, updated_at=now)
                .returning(RateBudgetRow.remaining)
            ).first()
            if granted is not None:
                return None
            row = session.scalar(
                select(RateBudgetRow)
                .where(RateBudgetRow.credential_fingerprint == self._fingerprint)
                .with_for_update()
            )
            if row is None or row.remaining is None:
                return None
            if row.reset_at is not None and row.reset_at <= now:
                row.remaining, row.reset_at, row.updated_at = None, None, now
                return None
            return row.reset_at or now

    def observe(self, remaining: int | None, reset_at: datetime | None) -> None:
        if remaining is None and reset_at is None:
            return
        now = _now()
        with self._factory() as session, session.begin():
            # Create the row if this is the credential's first observation (two workers may
            # race here), then lock it: every observer updates one existing row.
            insert = (
                postgresql.insert
                if session.get_bind().dialect.name == "postgresql"
                else sqlite.insert
            )
            session.execute(
                insert(RateBudgetRow)
                .values(
                    credential_fingerprint=self._fingerprint,
                    remaining=None,
                    reset_at=None,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["credential_fingerprint"])
            )
            row = session.scalar(
                select(RateBudgetRow)
                .where(RateBudgetRow.credential_fingerprint == self._fingerprint)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            assert row is not None
            new_window = reset_at is not None and (row.reset_at is None or reset_at > row.reset_at)
            if remaining is not None:
                # Within one window others may have spent since the server answered: keep the
                # lower figure. A new window starts from the server's figure.
                if new_window or row.remaining is None:
                    row.remaining = remaining
                else:
                    row.remaining = min(row.remaining, remaining)
            if reset_at is not None and new_window:
                row.reset_at = reset_at
            row.updated_at = now

    def __repr__(self) -> str:
        return f"SharedRateBudget({self._fingerprint[:8]}…)"

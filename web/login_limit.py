"""The login rate limit: after `max_failures` failed logins of one email from one client
address within `window`, further attempts are refused (429 with Retry-After) until the
oldest of those failures leaves the window. Failures are rows in the database, so every web
worker process counts the same ones; a successful login clears its key.

Refused attempts do not check the password (no argon2 work, no answer to guess from) and are
not recorded, so a client that keeps trying is let back in when its failures age out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from storage.repositories.login_failures import (
    LoginKey,
    clear_failures,
    failure_times,
    record_failure,
)


@dataclass(frozen=True, slots=True)
class LoginLimit:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=5)

    def retry_after(self, db: Session, key: LoginKey, now: datetime) -> int | None:
        """Whole seconds until the key may try again; None when it may try now."""
        times = failure_times(db, key, now - self.window)
        if len(times) < self.max_failures:
            return None
        # Once this failure leaves the window, fewer than max_failures remain.
        frees_at = times[len(times) - self.max_failures] + self.window
        return max(1, math.ceil((frees_at - now).total_seconds()))

    def failed(self, db: Session, key: LoginKey, now: datetime) -> None:
        record_failure(db, key, now, forget_before=now - self.window)

    def succeeded(self, db: Session, key: LoginKey) -> None:
        clear_failures(db, key)


@dataclass(frozen=True, slots=True)
class Throttled:
    """A login attempt the limit refused."""

    retry_after: int  # seconds

    @property
    def message(self) -> str:
        seconds = self.retry_after
        wait = f"{seconds} seconds" if seconds < 90 else f"{math.ceil(seconds / 60)} minutes"
        return f"Too many failed logins for this email from your address. Try again in {wait}."

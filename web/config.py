"""Web-process options that are not product settings: cookie and session lifetimes, the public
origin the CSRF check compares against, and live-progress limits. Built once by `pulse web`
(or a test) and passed to `create_app`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class WebConfig:
    # The JWT and its session row expire after this much inactivity; activity slides both.
    session_idle: timedelta = timedelta(minutes=30)
    # However active, a session ends this long after login (the user logs in again).
    session_max: timedelta = timedelta(hours=12)
    # Re-issue the cookie (and extend the row) at most this often, so reads stay read-only.
    refresh_after: timedelta = timedelta(minutes=1)
    # `Secure` cookies; browsers accept them on http://localhost and http://127.0.0.1 too.
    cookie_secure: bool = True
    # Login rate limit: this many failures of one email from one address within the window,
    # and that pair must wait (web.login_limit).
    login_max_failures: int = 5
    login_failure_window: timedelta = timedelta(minutes=5)
    # e.g. "https://pulse.example.com"; None accepts the origin the request was sent to.
    public_origin: str | None = None
    # Requests that use the database at once in one web process; its pool keeps this many
    # connections. Beyond it, threads only queue for the GIL and overflow connections open and
    # close per request (measured in bench/web.py: 1 request in 5 opened one at 10 a process).
    db_concurrency: int = 4
    # Password checks at once in one web process: argon2 takes 64 MiB and a core's worth of
    # CPU each, so a burst of logins waits here instead of taking the machine's memory.
    password_concurrency: int = 2
    # Live progress: events buffered per SSE client before it is dropped (it reconnects).
    client_queue_size: int = 64
    sse_ping_seconds: int = 15
    # Coalescing: at most one update per job and client in this many seconds.
    progress_min_interval: float = 0.25

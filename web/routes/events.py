"""The jobs page's live stream (server-sent events): one stream per page.

The first events are a snapshot of every job card rendered from PostgreSQL, so a (re)connect
always shows the truth; after that each progress event of the tenant re-renders its job's
card, coalesced to one update per `progress_min_interval`. The tenant comes from the session
cookie, which is checked again whenever the stream reads the database and at least every
`RECHECK_SECONDS`, so a logout or a deactivation ends the stream too. A client that falls
behind is dropped by the hub and resyncs on reconnect.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pulse.jobs import ProgressEvent
from storage.repositories.job_board import job_cards
from storage.schema import utcnow
from web.auth import Principal, session_principal
from web.progress import DROPPED, Subscriber
from web.routes.jobs import card_view
from web.services import WebServices

RECHECK_SECONDS = 30.0
RETRY_MS = 2000


def _render_cards(
    web: WebServices,
    request: Request,
    job_id: int | None,
    hints: dict[int, ProgressEvent] | None,
) -> list[tuple[int, str]] | None:
    """The cards to send (all, or those with a hint), or None when the session has ended."""
    with web.factory() as db:
        found = session_principal(db, web.codec, request, utcnow(), web.config)
        if found is None:
            return None
        principal = found[0]
        wanted = None if hints is None else set(hints)
        rendered = []
        for card in job_cards(db, principal.tenant_id):
            jid = card.job.id
            if (job_id is not None and jid != job_id) or (wanted is not None and jid not in wanted):
                continue
            context = {
                "user": principal,
                "partial": True,
                "view": card_view(card, (hints or {}).get(jid)),
            }
            rendered.append((jid, web.templates.render("_job_card.html", context)))
        return rendered


def _take(subscriber: Subscriber, item: object, pending: dict[int, ProgressEvent]) -> bool:
    """Add `item` and whatever else is queued to `pending` (newest event per job); False when
    the hub dropped this client (the stream must end so the browser resyncs)."""
    queued: list[object] = [item]
    while not subscriber.queue.empty():
        queued.append(subscriber.queue.get_nowait())
    for got in queued:
        if got is DROPPED:
            return False
        if isinstance(got, ProgressEvent):
            pending[got.job_id] = got
    return True


async def _stream(
    web: WebServices, request: Request, tenant_id: int, job_id: int | None
) -> AsyncIterator[ServerSentEvent]:
    counter = itertools.count(1)
    # Subscribe before reading the snapshot, so no event falls between the two.
    subscriber = web.hub.subscribe(tenant_id)
    try:
        snapshot = await web.in_thread(_render_cards, web, request, job_id, None)
        if snapshot is None:
            return
        for jid, html in snapshot:
            yield ServerSentEvent(
                data=html, event=f"job-{jid}", id=str(next(counter)), retry=RETRY_MS
            )
        last_sent: dict[int, float] = {}
        while True:
            pending: dict[int, ProgressEvent] = {}
            try:
                item = await asyncio.wait_for(subscriber.queue.get(), RECHECK_SECONDS)
            except TimeoutError:
                item = None  # quiet: still re-check the session below
            if item is DROPPED or not _take(subscriber, item, pending):
                return
            if job_id is not None:
                pending = {k: v for k, v in pending.items() if k == job_id}
            if item is not None and not pending:
                continue
            # Throttle per job with a leading edge: the first update goes out at once, the
            # next no sooner than `progress_min_interval` later (newer events replace older).
            loop = asyncio.get_running_loop()
            wait = (
                max(
                    (last_sent.get(j, 0.0) + web.config.progress_min_interval - loop.time())
                    for j in pending
                )
                if pending
                else 0.0
            )
            if wait > 0:
                await asyncio.sleep(wait)
                if not _take(subscriber, None, pending):
                    return
            cards = await web.in_thread(_render_cards, web, request, job_id, pending)
            if cards is None:  # logged out or deactivated meanwhile
                yield ServerSentEvent(data="", event="session-ended")
                return
            for jid, html in cards:
                last_sent[jid] = loop.time()
                yield ServerSentEvent(data=html, event=f"job-{jid}", id=str(next(counter)))
    finally:
        web.hub.unsubscribe(subscriber)


async def job_events(request: Request) -> Response:
    web: WebServices = request.app.state.web
    raw_job = request.query_params.get("job", "")
    job_id = int(raw_job) if raw_job.isdigit() else None
    if raw_job and job_id is None:
        return PlainTextResponse("job must be a job id", 422)

    def authenticate() -> Principal | bool | None:
        with web.factory() as db:
            found = session_principal(db, web.codec, request, utcnow(), web.config)
            if found is None:
                return None
            if job_id is not None and not any(
                c.job.id == job_id for c in job_cards(db, found[0].tenant_id)
            ):
                return False
            return found[0]

    principal = await web.in_thread(authenticate)
    if principal is None:
        return PlainTextResponse("Your session has ended; log in again.", 401)
    if principal is False:
        return PlainTextResponse("This job does not exist.", 404)
    assert isinstance(principal, Principal)
    return EventSourceResponse(
        _stream(web, request, principal.tenant_id, job_id),
        ping=web.config.sse_ping_seconds,
        send_timeout=30,
    )


job_events.guard = None  # type: ignore[attr-defined]  # authenticates itself (see above)
routes = [Route("/jobs/events", job_events, methods=["GET"])]

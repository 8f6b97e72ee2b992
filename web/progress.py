"""Live progress fan-out inside one web process.

One consumer per process (`ProgressConsumer`, a thread, because pika is blocking) subscribes
to the `etl.progress` topic exchange through the jobs service's `ProgressSubscriber` (an
exclusive, auto-deleted, length-capped queue) and hands each decoded event to the
`ProgressHub` on the event loop. The hub keeps, per tenant, a bounded queue per SSE client. A
client whose queue is full is dropped, not waited for: its stream ends, the browser
reconnects, and the new stream starts with a snapshot from PostgreSQL, which is the truth
anyway (events are hints).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from pulse.jobs import ProgressEvent

log = logging.getLogger(__name__)


class _Dropped:
    """Put in a subscriber's queue when it fell behind: the stream must end and resync."""


DROPPED = _Dropped()


@dataclass(eq=False)
class Subscriber:
    tenant_id: int
    queue: asyncio.Queue[ProgressEvent | _Dropped]
    dropped: bool = False


@dataclass
class ProgressHub:
    queue_size: int = 64
    _subscribers: dict[int, set[Subscriber]] = field(default_factory=lambda: defaultdict(set))
    _loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self, tenant_id: int) -> Subscriber:
        subscriber = Subscriber(tenant_id, asyncio.Queue(self.queue_size))
        self._subscribers[tenant_id].add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        found = self._subscribers.get(subscriber.tenant_id)
        if found is not None:
            found.discard(subscriber)
            if not found:
                del self._subscribers[subscriber.tenant_id]

    def subscriber_count(self, tenant_id: int | None = None) -> int:
        if tenant_id is not None:
            return len(self._subscribers.get(tenant_id, ()))
        return sum(len(s) for s in self._subscribers.values())

    def publish(self, event: ProgressEvent) -> None:
        """Deliver to the event's tenant's subscribers (on the loop thread); never blocks."""
        for subscriber in list(self._subscribers.get(event.tenant_id, ())):
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._drop(subscriber)

    def _drop(self, subscriber: Subscriber) -> None:
        subscriber.dropped = True
        self.unsubscribe(subscriber)
        while not subscriber.queue.empty():
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(DROPPED)
        log.info("dropped a slow progress client of tenant %s", subscriber.tenant_id)

    def publish_threadsafe(self, event: ProgressEvent) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.publish, event)


class ProgressConsumer:
    """The process's one subscriber to `etl.progress`; reconnects with back-off."""

    def __init__(self, url: str, hub: ProgressHub, *, name: str = "web-progress") -> None:
        self._url, self._hub, self._name = url, hub, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.ready = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """The loop checks the flag at least once a second and closes its own connection
        (a pika connection belongs to the thread that made it)."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                self._consume()
                delay = 1.0
            except Exception as exc:
                self.ready.clear()
                if self._stop.is_set():
                    break
                log.warning("progress consumer lost RabbitMQ (%r); retrying in %.0f s", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)

    def _consume(self) -> None:
        from dataflows.rabbitmq.progress import ProgressSubscriber, progress_binding
        from pulse.messages import MessageError

        with ProgressSubscriber(self._url, progress_binding(), name=self._name) as subscriber:
            self.ready.set()
            while not self._stop.is_set():
                got = subscriber.get(timeout=1.0)
                if got is None:
                    continue
                routing_key, body = got
                try:
                    event = ProgressEvent.from_json(body)
                except MessageError as exc:
                    log.warning("skipping a malformed progress event on %r: %s", routing_key, exc)
                    continue
                self._hub.publish_threadsafe(event)

"""The thread that reads one stream partition's socket, so the broker never waits on the dataflow.

Bytewax calls `next_batch` only between epochs' work; a partition that read its socket only
there left the broker blocked behind full TCP buffers while a batch was transformed and
committed (about 200 records/s per partition with 1.9 MB messages), and a long epoch on a busy
machine got the consumer disconnected (`send_failed, timeout` in the broker log). Here a thread
owns the pika connection (pika is not thread-safe: nothing else touches it), services the
socket continuously and appends deliveries to a deque the partition pops (`append`/`popleft`
are atomic in CPython).

Memory stays bounded by stream credit: a delivery is acked (credit granted back) only once the
partition has taken it and fewer than `buffer_bytes` of bodies wait, so at most `prefetch`
messages, and about `buffer_bytes` of big ones, wait here (a shard reads 8 or 16 partitions).
Deliveries below the offset asked for (the broker starts at the chunk holding it) are queued as
skips, so their credit comes back in order with the rest.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import pika
from pika.exceptions import AMQPError, ChannelClosedByBroker

from dataflows.rabbitmq.publisher import connect
from pulse.errors import ConfigurationError, FatalError, RetriableError

log = logging.getLogger(__name__)

PRECONDITION_FAILED = 406
_POLL_SECONDS = 0.02  # how long one socket wait may last before acks and stop are checked
_START_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One stream message, unparsed: the dataflow decides what a bad body means."""

    partition: int
    offset: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Delivery:
    tag: int
    message: StreamMessage | None  # None: below the requested offset, only its credit matters


class StreamReader:
    """Consumes `queue` from `offset` into `deliveries`; `taken(tag)` returns credit."""

    def __init__(
        self,
        url: str,
        queue: str,
        partition: int,
        offset: int | str,
        *,
        name: str,
        prefetch: int,
        buffer_bytes: int,
    ) -> None:
        self.queue = queue
        self.deliveries: deque[Delivery] = deque()
        self._url = url
        self._partition = partition
        self._offset = offset
        self._connection_name = name
        self._prefetch = prefetch
        self._expect = offset if isinstance(offset, int) else 0
        self._offset_known = isinstance(offset, int)  # "first" may start anywhere
        self._buffer_bytes = buffer_bytes
        # Each counter has one writer (no lock needed): received here, taken by the partition.
        self._received_bytes = 0
        self._taken_tag = 0
        self._taken_bytes = 0
        self._acked_tag = 0
        self._ack_every = max(prefetch // 4, 1)
        self._stopping = threading.Event()
        self._consuming = threading.Event()
        self._failure: Exception | None = None
        self._thread = threading.Thread(target=self._run, name=f"stream-reader:{name}", daemon=True)

    # -- the partition's side ---------------------------------------------------------------

    def start_reading(self) -> None:
        """Start and wait until the broker accepted the consumer; raise what refused it."""
        self._thread.start()
        if not self._consuming.wait(_START_TIMEOUT):
            self.stop()
            raise RetriableError(f"no answer from the broker consuming {self.queue!r}")
        self.raise_failure()

    def taken(self, tag: int, size: int) -> None:
        """Everything up to `tag` (`size` more bytes of bodies) has been handed to the
        dataflow; its credit may go back."""
        self._taken_bytes += size
        self._taken_tag = tag

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    # -- the reader thread ------------------------------------------------------------------

    def _run(self) -> None:
        connection = None
        try:
            connection = connect(self._url, name=self._connection_name)
            channel = connection.channel()
            channel.basic_qos(prefetch_count=self._prefetch)
            channel.basic_consume(
                self.queue,
                self._on_message,
                auto_ack=False,
                arguments={"x-stream-offset": self._offset},
            )
            log.info("reading stream %s from offset %s", self.queue, self._offset)
            self._consuming.set()
            while not self._stopping.is_set():
                connection.process_data_events(time_limit=_POLL_SECONDS)
                self._return_credit(channel)
                if not channel.consumer_tags:
                    raise RetriableError(
                        f"the broker cancelled the consumer of {self.queue!r} (stream deleted?)",
                        queue=self.queue,
                    )
        except ChannelClosedByBroker as exc:
            if exc.reply_code == PRECONDITION_FAILED:  # e.g. a classic queue under that name
                self._fail(
                    ConfigurationError(
                        f"the broker refused to read {self.queue!r} as a stream: {exc.reply_text}",
                        queue=self.queue,
                    )
                )
            else:
                self._fail(self._lost(exc))
        except AMQPError as exc:
            self._fail(self._lost(exc))
        except Exception as exc:  # handed to the dataflow's thread, which raises it
            self._fail(exc)
        finally:
            _close_quietly(connection, self.queue)

    def _lost(self, exc: Exception) -> RetriableError:
        return RetriableError(
            f"lost stream {self.queue!r}: {exc!r}; restart resumes from the snapshot",
            queue=self.queue,
        )

    def _fail(self, exc: Exception) -> None:
        if not self._stopping.is_set():
            self._failure = exc
        self._consuming.set()

    def _on_message(
        self,
        channel: Any,
        method: pika.spec.Basic.Deliver,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        header = (properties.headers or {}).get("x-stream-offset")
        if not isinstance(header, int):
            raise FatalError(f"{self.queue!r} is not a stream: no x-stream-offset header")
        offset = int(header)  # pika decodes a `long` subclass; snapshots should hold plain ints
        if offset > self._expect and self._offset_known:
            # Offsets are contiguous, so a gap means retention dropped messages we never read.
            log.warning(
                "stream %s skipped offsets %s..%s (expired by retention?); "
                "the outbox sweeper re-publishes what was never loaded",
                self.queue,
                self._expect,
                offset - 1,
            )
        self._offset_known = True
        message = None
        if offset >= self._expect:
            self._expect = offset + 1
            message = StreamMessage(self._partition, offset, body)
            self._received_bytes += len(body)
        self.deliveries.append(Delivery(method.delivery_tag, message))

    def _return_credit(self, channel: Any) -> None:
        # Credit only, so one multiple-ack for everything taken; never the same tag twice (a
        # second ack of a tag closes the channel). Acked early when the buffer ran dry, so a
        # small prefetch never leaves the broker waiting for a quarter of it.
        taken = self._taken_tag
        if self._received_bytes - self._taken_bytes >= self._buffer_bytes:
            return  # enough waits already: the broker pauses once `prefetch` are unacked
        if taken > self._acked_tag and (
            taken - self._acked_tag >= self._ack_every or not self.deliveries
        ):
            channel.basic_ack(taken, multiple=True)
            self._acked_tag = taken


def _close_quietly(connection: pika.BlockingConnection | None, queue: str) -> None:
    # pika rejects deliveries still in flight when it cancels the consumer; a stream answers
    # with 540 and closes the connection, which was closing anyway: harmless, swallowed.
    try:
        if connection is not None and connection.is_open:
            connection.close()
    except AMQPError:
        log.debug("ignoring error while closing %s", queue, exc_info=True)

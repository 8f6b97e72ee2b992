"""The health endpoints of a worker whose main loop beats a `Heartbeat` (extract, vectorize):
alive while the loop turns, ready while it also says so and the database takes its heartbeat
row. `patience` is the longest a healthy loop goes without a turn (a page fetch, a batch of
embeddings), so a slow step is not taken for a wedged process."""

from __future__ import annotations

from pulse.ops.health import HealthServer
from pulse.ops.metrics import Metrics
from storage.heartbeats import Heartbeat


def serve_worker_health(
    port: int | None, heartbeat: Heartbeat, metrics: Metrics, *, patience: float
) -> HealthServer | None:
    """Start the health server on `port` (None: no server)."""
    if port is None:
        return None
    return HealthServer(
        port,
        live=lambda: heartbeat.beaten_within(patience),
        ready=lambda: heartbeat.ready_within(patience),
        registry=metrics.registry,
    ).start()

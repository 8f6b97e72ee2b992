"""What operators look at: health and metrics endpoints of every worker process, the queue
monitor and the dead letters."""

from pulse.ops.dead_letters import DeadLetterError, DeadLetters
from pulse.ops.health import HealthServer
from pulse.ops.metrics import Metrics
from pulse.ops.probes import serve_worker_health
from pulse.ops.queues import (
    ManagementApi,
    QueueMonitor,
    QueueStats,
    committed_offsets,
    stream_lag,
)
from pulse.ops.shard import ShardMonitor

__all__ = [
    "DeadLetterError",
    "DeadLetters",
    "HealthServer",
    "ManagementApi",
    "Metrics",
    "QueueMonitor",
    "QueueStats",
    "ShardMonitor",
    "committed_offsets",
    "serve_worker_health",
    "stream_lag",
]

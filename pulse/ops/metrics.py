"""The Prometheus metrics of Pulse's processes, in one registry per process.

Names (all prefixed `pulse_`):

* `pulse_records_total{stage}` — records processed by each stage (extract: raw records stored;
  transform: raw records transformed; load: transformed records handed to the loader;
  vectorize: facts embedded): each worker process counts its own; the scheduler that leads
  counts them from the runs' rows;
* `pulse_errors_total{stage,kind}` — errors by stage and kind (retriable, fatal, skippable,
  stalled); an item a dataflow dead-letters and carries on from is skippable;
* `pulse_queue_messages{queue}` and `pulse_queue_lag_messages{queue}` — a queue's depth or a
  stream's length, and what its consumers have not processed yet (a dataflow shard: its
  streams' tail offset + 1 minus the next offset it reads);
* `pulse_run_duration_seconds{kind,outcome}` — wall time of runs from start to end;
* `pulse_rate_limit_wait_seconds` — how long runs wait for a credential's rate-limit reset;
* `pulse_runs{state}` — runs in flight by state;
* `pulse_progress_events_total` — progress events published;
* `pulse_scheduler_tick_seconds` — duration of a scheduler tick.

A registry per `Metrics` object (not the global one), so tests and embedded processes can make
as many as they like. The web adds `pulse_http_requests_total` and `pulse_http_request_seconds`
to its own (`web.metrics`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21_600, 86_400)
_WAIT_BUCKETS = (1, 5, 15, 30, 60, 300, 900, 1800, 3600)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.records = Counter(
            "pulse_records", "Records processed, by stage.", ["stage"], registry=r
        )
        self.errors = Counter(
            "pulse_errors", "Errors, by stage and kind.", ["stage", "kind"], registry=r
        )
        self.queue_messages = Gauge(
            "pulse_queue_messages",
            "Messages in a queue, or a stream's length.",
            ["queue"],
            registry=r,
        )
        self.queue_lag = Gauge(
            "pulse_queue_lag_messages",
            "Messages of a queue or stream that its consumers have not processed yet.",
            ["queue"],
            registry=r,
        )
        self.run_duration = Histogram(
            "pulse_run_duration_seconds",
            "Wall time of runs, from start to end.",
            ["kind", "outcome"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.rate_limit_wait = Histogram(
            "pulse_rate_limit_wait_seconds",
            "Time runs wait for a credential's rate-limit reset.",
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.runs = Gauge("pulse_runs", "Runs in flight, by state.", ["state"], registry=r)
        self.progress_events = Counter(
            "pulse_progress_events", "Progress events published.", registry=r
        )
        self.tick_seconds = Histogram(
            "pulse_scheduler_tick_seconds", "Duration of a scheduler tick.", registry=r
        )

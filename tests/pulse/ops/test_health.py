"""The health and metrics endpoints a worker process serves."""

from __future__ import annotations

import httpx

from pulse.ops import HealthServer, Metrics


def test_liveness_readiness_and_metrics_endpoints() -> None:
    metrics = Metrics()
    metrics.records.labels("load").inc(42)
    alive = {"value": True}

    def ready() -> bool:
        raise ConnectionError("database unreachable")

    server = HealthServer(
        0, live=lambda: alive["value"], ready=ready, registry=metrics.registry, host="127.0.0.1"
    ).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as client:
            assert client.get("/healthz").status_code == 200
            not_ready = client.get("/readyz")
            assert not_ready.status_code == 503
            assert "database unreachable" in not_ready.text
            scraped = client.get("/metrics")
            assert scraped.status_code == 200
            assert scraped.headers["content-type"].startswith("text/plain")
            assert 'pulse_records_total{stage="load"} 42.0' in scraped.text
            assert "pulse_queue_lag_messages" in scraped.text
            assert client.get("/nope").status_code == 404
            alive["value"] = False  # e.g. the main loop has not ticked for too long
            assert client.get("/healthz").status_code == 503
    finally:
        server.stop()


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.errors.labels("extract", "fatal").inc()
    assert (
        second.registry.get_sample_value(
            "pulse_errors_total", {"stage": "extract", "kind": "fatal"}
        )
        is None
    )

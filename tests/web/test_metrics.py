"""`/metrics` of the web app: Prometheus text, no login needed, requests counted by route
template (never by the ids in the path) and status, with their latency."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.web.conftest import ClientFactory, World

pytestmark = pytest.mark.integration


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_requests_are_counted_by_route_template_and_status(
    world: World, client_factory: ClientFactory
) -> None:
    viewer = client_factory(world.a.users["viewer"])
    job = world.a.ids["job_id"]
    assert viewer.get(f"/jobs/{job}").status_code == 200
    assert viewer.get(f"/jobs/{world.b.ids['job_id']}").status_code == 404  # another tenant's
    assert viewer.get("/no/such/page").status_code == 404
    assert viewer.post(f"/jobs/{job}/run").status_code == 403  # a viewer may not run jobs

    scraped = client_factory().get("/metrics")  # no session needed, like /healthz
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=")
    samples = _samples(scraped.text)

    def count(method: str, route: str, status: str) -> float | None:
        labels = frozenset({"method": method, "route": route, "status": status}.items())
        return samples.get(("pulse_http_requests_total", labels))

    assert count("GET", "/jobs/{job_id:int}", "200") == 1
    assert count("GET", "/jobs/{job_id:int}", "404") == 1
    assert count("GET", "unmatched", "404") == 1
    assert count("POST", "/jobs/{job_id:int}/run", "403") == 1
    assert not any(str(job) in dict(labels).get("route", "") for _, labels in samples)
    latency = frozenset({"method": "GET", "route": "/jobs/{job_id:int}"}.items())
    assert samples[("pulse_http_request_seconds_count", latency)] == 2
    assert samples[("pulse_http_request_seconds_sum", latency)] > 0
    # The product metrics every process has are there too (at zero in a web process).
    assert "# TYPE pulse_queue_lag_messages gauge" in scraped.text

"""Embedded mode: extraction on SQLite hands every stored record to an in-process sink."""

from __future__ import annotations

from connectors.extract.embedded import extract_in_process
from connectors.extract.factory import StreamFactory
from connectors.extract.runner import Outcome
from connectors.simulator import SimulatorServer, config_for
from pulse.messages import RecordBatch
from storage.db import session_factory
from tests.connectors.extract.env import CIPHER, make_tenant, raw_ids, start_run


def test_embedded_extraction_delivers_each_record_once(sqlite_engine) -> None:  # type: ignore[no-untyped-def]
    factory = session_factory(sqlite_engine)
    received: list[tuple[int, RecordBatch]] = []
    with SimulatorServer(config_for("issues=60,prs=15,repos=2,histories=40", seed=3)) as sim:
        tenant = make_tenant(factory, sim, "acme")
        for integration_id in (tenant.jira_id, tenant.github_id):
            result = extract_in_process(
                factory,
                StreamFactory(factory, CIPHER, max_retries=2),
                start_run(factory, tenant.id, integration_id),
                lambda partition, batch: received.append((partition, batch)),
                partitions=16,
                max_retries=2,
                batch_size=25,
            )
            assert result.outcome is Outcome.EXTRACTED
        truth_issues = {i["id"] for i in sim.truth("jira", "acme")["issues"]}
    delivered = [(b.entity, r["external_id"]) for _, b in received for r in b.records]
    assert len(delivered) == len(set(delivered))  # nothing twice
    assert {x for e, x in delivered if e == "jira.issue"} == truth_issues
    assert {x for e, x in delivered if e == "github.pull_request"} == raw_ids(
        sqlite_engine, tenant.github_id, "github.pull_request"
    )
    assert all(len(b.records) <= 25 and b.tenant_id == tenant.id for _, b in received)

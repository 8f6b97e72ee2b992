"""Message contracts: a tenant always lands on the same partition, source versions order by
instant, and a malformed message is refused as a poison message (never half-read)."""

from __future__ import annotations

import json

import pytest

from pulse.messages import SCHEMA_VERSION, MessageError, RecordBatch, partition_for, version_micros


def test_partition_is_crc32_of_the_tenant_modulo_the_partition_count() -> None:
    # crc32("123456789") is the CRC-32 check value 0xCBF43926 = 3421780262.
    assert partition_for(123456789, 1024) == 0xCBF43926 % 1024 == 294
    assert partition_for("123456789", 16) == 6
    assert partition_for(42, 16) == partition_for("42", 16)


@pytest.mark.parametrize("partitions", [1, 2, 7, 16, 1024])
def test_every_tenant_gets_a_partition_in_range(partitions: int) -> None:
    seen = {partition_for(tenant, partitions) for tenant in range(1, 20_000)}
    assert seen == set(range(partitions)), "20 000 tenants spread over every partition"


def test_version_micros_counts_microseconds_since_the_epoch() -> None:
    assert version_micros("1970-01-01T00:00:00Z") == 0
    assert version_micros("1970-01-01T00:00:01.5+00:00") == 1_500_000
    assert version_micros("1970-01-01T01:00:00+01:00") == 0
    assert version_micros("2024-01-15T10:30:00.000+0000") == 1_705_314_600_000_000  # Jira
    assert version_micros("1969-12-31T23:59:59Z") == -1_000_000
    assert version_micros("12345") == 12345  # a revision


def test_versions_order_by_instant_not_by_text() -> None:
    # In text order these are reversed: the +02:00 one is 90 minutes earlier.
    later = "2023-12-31T23:30:00Z"
    earlier = "2024-01-01T00:00:00+02:00"
    assert earlier > later
    assert version_micros(earlier) < version_micros(later)
    stamps = [
        "2024-03-10T12:00:00.000001+00:00",
        "2024-03-10T07:00:00-05:00",
        "2024-03-10T20:00:00.5+08:00",
    ]
    assert sorted(stamps, key=version_micros) == [stamps[1], stamps[0], stamps[2]]


@pytest.mark.parametrize(
    "version",
    ["2024-01-01T00:00:00", "2024-01-01", "yesterday", "", "12.5", "-3", "²"],
    ids=["naive", "a-date", "a-word", "empty", "a-decimal", "negative", "superscript-digit"],
)
def test_a_version_without_offset_or_not_a_time_is_refused(version: str) -> None:
    with pytest.raises(MessageError):
        version_micros(version)


def test_a_record_batch_survives_the_wire() -> None:
    batch = RecordBatch(
        tenant_id=7,
        integration_id=3,
        job_run_id=None,
        entity="work_item",
        records=[{"raw_id": 1, "key": "PROJ-1", "labels": ["café"], "nested": {"n": 1.5}}],
    )
    assert RecordBatch.from_json(batch.to_json()) == batch
    with_run = RecordBatch(7, 3, 99, "pull_request", [])
    assert RecordBatch.from_json(with_run.to_json()) == with_run


def _body(**changes: object) -> bytes:
    message = {
        "schema_version": SCHEMA_VERSION,
        "tenant_id": 7,
        "integration_id": 3,
        "job_run_id": 1,
        "entity": "work_item",
        "records": [{"raw_id": 1}],
    }
    message.update(changes)
    return json.dumps({k: v for k, v in message.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
        pytest.param(b"[1, 2]", id="an-array"),
        pytest.param(b"null", id="null"),
        pytest.param(_body(schema_version=2), id="future-schema"),
        pytest.param(_body(schema_version=...), id="no-schema"),
        pytest.param(_body(tenant_id=...), id="no-tenant"),
        pytest.param(_body(entity=...), id="no-entity"),
        pytest.param(_body(records=...), id="no-records"),
        pytest.param(_body(records={"raw_id": 1}), id="records-an-object"),
        pytest.param(_body(records=[1, 2]), id="records-not-objects"),
        pytest.param(_body(tenant_id="seven"), id="tenant-a-word"),
        pytest.param(_body(tenant_id=None), id="tenant-null"),
        pytest.param(_body(tenant_id=True), id="tenant-true"),
        pytest.param(_body(integration_id=3.7), id="integration-a-float"),
        pytest.param(_body(job_run_id="last"), id="run-a-word"),
        pytest.param(_body(entity=None), id="entity-null"),
    ],
)
def test_a_poison_message_is_refused_with_message_error(body: bytes) -> None:
    with pytest.raises(MessageError):
        RecordBatch.from_json(body)

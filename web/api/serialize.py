"""JSON shapes of the API: plain dicts with ISO-8601 UTC timestamps and no secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.responses import JSONResponse

from storage.repositories.browse import RawSummary
from storage.repositories.job_board import JobCard
from storage.schema import JobRun, RawRecord


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def run_json(run: JobRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "job_id": run.job_id,
        "integration_id": run.integration_id,
        "kind": run.kind,
        "state": run.state,
        "stage": run.stage,
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "rate_limited_until": iso(run.rate_limited_until),
        "error": run.error,
        "counts": {
            "extracted": run.extracted,
            "transformed": run.transformed,
            "loaded": run.loaded,
            "vectorized": run.vectorized,
            "failed": run.failed,
        },
        "total_expected": run.total_expected,
    }


def job_json(card: JobCard, allowed: frozenset[str]) -> dict[str, Any]:
    job = card.job
    return {
        "id": job.id,
        "integration": {
            "id": card.integration.id,
            "name": card.integration.name,
            "provider": card.integration.provider,
            "enabled": card.integration.enabled,
        },
        "state": job.state,
        "enabled": job.enabled,
        "schedule_interval_seconds": job.schedule_interval_seconds,
        "retry_interval_seconds": job.retry_interval_seconds,
        "next_run_at": iso(job.next_run_at),
        "last_error": job.last_error,
        "last_run": run_json(card.last_run) if card.last_run else None,
        "actions": sorted(allowed),
    }


def raw_summary_json(row: RawSummary) -> dict[str, Any]:
    return {
        "id": row.id,
        "integration_id": row.integration_id,
        "job_run_id": row.job_run_id,
        "entity": row.entity,
        "external_id": row.external_id,
        "version": row.version,
        "content_hash": row.content_hash,
        "fetched_at": iso(row.fetched_at),
        "processed_at": iso(row.processed_at),
    }


def raw_record_json(raw: RawRecord) -> dict[str, Any]:
    return {
        "id": raw.id,
        "integration_id": raw.integration_id,
        "job_run_id": raw.job_run_id,
        "entity": raw.entity,
        "external_id": raw.external_id,
        "version": raw.version,
        "content_hash": raw.content_hash,
        "fetched_at": iso(raw.fetched_at),
        "processed_at": iso(raw.processed_at),
        "payload": raw.payload,
    }


def invalid(errors: dict[str, str]) -> JSONResponse:
    return JSONResponse({"error": "invalid parameters", "fields": errors}, 422)

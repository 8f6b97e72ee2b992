"""Vectorize benchmark: embeddings/s of the whole vectorize step against the bare model.

    .venv/bin/python bench/vectorize.py [--facts N --rounds R --batch-size B]

The vectorize path is `vectorize_facts` as the worker runs it: fact rows read from PostgreSQL
→ texts (the rules' templates, hash-checked) → the local sentence-transformers model → Qdrant
local-mode upsert → vector_points and job_runs in PostgreSQL. The baseline is a bare
`SentenceTransformer.encode` of the very same texts, same model object, same batch size, in
the same process. Each round times both back to back (the path on a fresh Qdrant directory and
an empty vector_points, so it really embeds everything). `ratio_vs_bare` is the median of the
rounds' ratios; the rates are each side's best round. `model_share_of_path` is the part of the
path's time spent inside the model (1 - the path's own overhead), which other load on the
machine hardly moves.

Progress goes to stderr; the figures go to stdout as one JSON line. A throwaway PostgreSQL
database (`pulse_bench_<pid>`) is created on the server of `--admin-url` and dropped at the
end, also when the benchmark fails or is interrupted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from qdrant_client import QdrantClient
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker
from support import progress, throwaway_database, unwind_on_sigterm

from dataflows.rules.github_pr import pull_request_text
from dataflows.rules.jira_issue import work_item_text
from dataflows.vectorize import LocalEmbedder, QdrantStore, collection_name, vectorize_facts
from dataflows.vectorize.texts import fact_text
from pulse.messages import VectorizeRequest
from storage import vectors
from storage.crypto import CredentialCipher
from storage.db import make_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.repositories import integrations, jobs, tenants
from storage.schema import PullRequest, VectorPoint, WorkItem

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REQUEST_SIZE = 100  # facts per vectorize request, as the load stage sends them
_VOCABULARY = (
    "login page token session cache timeout retry queue worker deploy rollback schema migration "
    "index query latency dashboard report export import billing invoice customer account "
    "permission role admin audit log alert metric trace span error exception crash memory leak "
    "build pipeline release branch merge review comment test flaky fixture mock integration "
    "api endpoint pagination cursor webhook payload json parser encoding unicode timezone utc "
    "sprint backlog story epic estimate priority blocker regression performance throughput"
)
_WORDS = tuple(_VOCABULARY.split())


def _sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(low, high)))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seed_facts(
    factory: sessionmaker[Session], count: int, seed: int
) -> tuple[int, list[VectorizeRequest]]:
    """A tenant with count facts (4 work items to 1 pull request), summaries of 5-14 words and
    descriptions of 0-250 words (the model reads at most 256 tokens); returns the tenant and
    the requests the load stage would have sent for them."""
    rng = random.Random(seed)
    cipher = CredentialCipher(Fernet.generate_key().decode())  # no credentials are stored
    with transaction(factory) as session:
        tenant = tenants.create_tenant(session, "Bench")
        made: dict[str, int] = {}
        for provider in ("jira", "github"):
            made[provider] = integrations.create_integration(
                session,
                tenant.id,
                name=provider,
                provider=provider,
                base_url=None,
                credentials=None,
                settings={},
                cipher=cipher,
            ).id
        job = jobs.ensure_job(session, tenant.id, made["jira"])
        run = jobs.start_run(session, tenant.id, job.id)
        assert run is not None
        tenant_id, run_id = tenant.id, run.id
    work_items: list[dict[str, Any]] = []
    pulls: list[dict[str, Any]] = []
    for n in range(count):
        common: dict[str, Any] = {
            "tenant_id": tenant_id,
            "version": 1,
            "last_job_run_id": run_id,
            "raw_id": n,
        }
        if n % 5:
            row = {
                **common,
                "integration_id": made["jira"],
                "external_id": str(10_000 + n),
                "key": f"BEN-{n}",
                "summary": _sentence(rng, 5, 14),
                "description": _sentence(rng, 0, 250) or None,
                "type_name": rng.choice(("Story", "Bug", "Task")),
                "source_status": rng.choice(("To Do", "In Progress", "Done")),
                "labels": rng.sample(_WORDS, rng.randint(0, 3)),
            }
            row["content_hash"] = _sha(work_item_text(row))
            work_items.append(row)
        else:
            row = {
                **common,
                "integration_id": made["github"],
                "external_id": f"PR_{n}",
                "repository_full_name": "bench/service",
                "number": n,
                "title": _sentence(rng, 4, 12),
                "body": _sentence(rng, 0, 200),
                "state": rng.choice(("open", "merged", "closed")),
            }
            row["content_hash"] = _sha(pull_request_text(row))
            pulls.append(row)
    with transaction(factory) as session:
        session.execute(insert(WorkItem), work_items)
        session.execute(insert(PullRequest), pulls)
    requests = []
    for entity, rows in (("work_item", work_items), ("pull_request", pulls)):
        ids = [r["external_id"] for r in rows]
        requests += [
            VectorizeRequest(
                tenant_id, rows[0]["integration_id"], entity, ids[i : i + REQUEST_SIZE], run_id
            )
            for i in range(0, len(ids), REQUEST_SIZE)
        ]
    return tenant_id, requests


def texts_of(factory: sessionmaker[Session], requests: Sequence[VectorizeRequest]) -> list[str]:
    """The texts the path embeds, built the same way, for the bare baseline."""
    texts = []
    with factory() as session:
        for r in requests:
            for row in vectors.fact_rows(
                session, r.tenant_id, r.integration_id, r.entity, r.external_ids
            ):
                texts.append(fact_text(r.tenant_id, r.entity, row).text)
    return texts


class TimedEmbedder:
    """The local model, with the time spent inside it."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner, self.seconds = inner, 0.0

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - started


def run_path(
    factory: sessionmaker[Session],
    embedder: TimedEmbedder,
    requests: Sequence[VectorizeRequest],
    tenant_id: int,
    expected: int,
) -> tuple[float, float]:
    """One timed `vectorize_facts` over every request from scratch; (seconds, embed seconds)."""
    with transaction(factory) as session:
        session.execute(delete(VectorPoint))
    with tempfile.TemporaryDirectory(prefix="pulse-bench-qdrant-") as directory:
        client = QdrantClient(
            path=str(Path(directory) / "qdrant"), force_disable_check_same_thread=True
        )
        store = QdrantStore(client)  # as `open_store` builds it in local mode
        try:
            embedder.seconds = 0.0
            started = time.perf_counter()
            result = vectorize_facts(factory, embedder, store, requests)
            seconds = time.perf_counter() - started
            points = store.count(
                collection_name(embedder.model, embedder.dimension), tenant_id=tenant_id
            )
        finally:
            store.close()
    with factory() as session:
        recorded = session.scalar(select(func.count()).select_from(VectorPoint))
    if not result.embedded == points == recorded == expected:
        raise SystemExit(
            f"vectorize path embedded {result.embedded}, Qdrant holds {points}, vector_points "
            f"{recorded}; expected {expected}"
        )
    return seconds, embedder.seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--admin-url", default=ADMIN_URL)
    args = parser.parse_args(argv)
    unwind_on_sigterm()

    local = LocalEmbedder(batch_size=args.batch_size)
    model = local.load()
    local.embed(["warm up the model"] * 8)
    progress(f"model loaded ({local.model}, {local.dimension} dimensions)")
    with throwaway_database(args.admin_url) as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            factory = session_factory(engine)
            tenant_id, requests = seed_facts(factory, args.facts, args.seed)
            texts = texts_of(factory, requests)
            assert len(texts) == args.facts
            progress(f"{len(texts)} facts in {len(requests)} requests")
            timed = TimedEmbedder(local)
            bare_runs, path_runs = [], []
            for round_ in range(1, args.rounds + 1):
                started = time.perf_counter()
                model.encode(
                    texts,
                    batch_size=args.batch_size,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                )
                bare_runs.append(time.perf_counter() - started)
                path_runs.append(run_path(factory, timed, requests, tenant_id, len(texts)))
                progress(
                    f"round {round_}: bare {len(texts) / bare_runs[-1]:.1f}/s, path "
                    f"{len(texts) / path_runs[-1][0]:.1f}/s (model {path_runs[-1][1]:.1f} s "
                    f"of {path_runs[-1][0]:.1f} s)"
                )
        finally:
            engine.dispose()
    bare = min(bare_runs)
    path, in_model = min(path_runs)
    # Each round times both sides back to back, so a round's ratio compares like with like
    # even when other processes load the machine; the median round is the headline.
    ratios = [b / p for b, (p, _) in zip(bare_runs, path_runs, strict=True)]
    figures = {
        "embeddings_per_s": round(args.facts / path, 1),
        "bare_per_s": round(args.facts / bare, 1),
        "ratio_vs_bare": round(statistics.median(ratios), 3),
        "round_ratios": [round(r, 3) for r in ratios],
        "model_share_of_path": round(in_model / path, 3),
        "texts": args.facts,
        "batch_size": args.batch_size,
        "model": local.model,
        "rounds": args.rounds,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

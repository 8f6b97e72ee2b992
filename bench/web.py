"""Web benchmark: response times of the jobs page and the data browser with 100,000 work items,
under 20 concurrent clients on loopback.

    .venv/bin/python bench/web.py [--items N --clients C --requests R]

A throwaway PostgreSQL database (`pulse_bench_web_<pid>`) is created on the server of
`--admin-url`, filled with one tenant (a Jira and a GitHub integration with their jobs, 200
runs of history, N work items) and dropped at the end, also on failure or Ctrl-C. The app runs
as `pulse web --workers 2` in a subprocess (uvicorn, one worker process per core, production
settings: Secure cookies, CSRF, CSP); each client logs in through the real login form and then
requests one page in a loop over its own keep-alive connection (bench/http1.py, a lean client
that leaves the shared cores to the server; `--httpx` times httpx instead, as before
2026-11-29). Progress goes to stderr; one JSON line goes to stdout:

    jobs_p50_ms, jobs_p95_ms        GET /jobs (full page: cards and recent runs)
    data_p50_ms, data_p95_ms        GET /data/work-items (full page: first 50 of N, count)
    data_deep_p95_ms                the same list at a random page up to 200 (offset ≤ 10,000)
    data_search_p95_ms              the list's htmx fragment filtered by a summary search
    jobs_single_p50_ms, data_single_p50_ms   one client alone (service time, no queueing)
    <phase>_busiest_worker_share    the busiest web worker's part of the workers' CPU in that
                                    phase, logins included (0.5 is even with 2 workers)
    client                          http1 or httpx
    rps                             requests per second over the phases (logins included)
    host_load_1min                  the host's load average when the phases ended

Goal: `jobs_p95_ms` and `data_p95_ms` ≤ 150.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import http1
import httpx
import psycopg
from cryptography.fernet import Fernet
from sqlalchemy.orm import Session
from support import progress, throwaway_database, unwind_on_sigterm

from storage.crypto import CredentialCipher
from storage.db import make_engine
from storage.migrate import upgrade
from storage.repositories import integrations, jobs, tenants, users
from storage.schema import JobRun

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
EMAIL = "bench-admin@example.com"
PASSWORD = "bench password 1234"
ROOT = Path(__file__).resolve().parents[1]


def populate(url: str, items: int, cipher: CredentialCipher) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
        with Session(engine) as session, session.begin():
            tenant = tenants.create_tenant(session, "Bench")
            users.create_user(session, tenant.id, email=EMAIL, password=PASSWORD, role="admin")
            jira = integrations.create_integration(
                session,
                tenant.id,
                name="Jira",
                provider="jira",
                base_url="https://bench.atlassian.example",
                credentials={"email": "bot@example.com", "api_token": "secret"},
                settings={"projects": ["BENCH", "CORE"]},
                cipher=cipher,
            )
            github = integrations.create_integration(
                session,
                tenant.id,
                name="GitHub",
                provider="github",
                base_url="https://api.github.com",
                credentials={"token": "secret"},
                settings={"organization": "bench"},
                cipher=cipher,
            )
            started = datetime(2026, 1, 1, tzinfo=UTC)
            for integration in (jira, github):
                job = jobs.ensure_job(session, tenant.id, integration.id)
                for n in range(100):
                    session.add(
                        JobRun(
                            tenant_id=tenant.id,
                            integration_id=integration.id,
                            job_id=job.id,
                            state="failed" if n % 10 == 0 else "succeeded",
                            error="GitHub answered 502" if n % 10 == 0 else None,
                            started_at=started + timedelta(hours=n),
                            finished_at=started + timedelta(hours=n, minutes=4),
                            extracted=n * 10,
                            transformed=n * 10,
                            loaded=n * 10,
                        )
                    )
            session.flush()
            tenant_id, jira_id = tenant.id, jira.id
        _copy_work_items(url, tenant_id, jira_id, items)
    finally:
        engine.dispose()


def _copy_work_items(url: str, tenant_id: int, integration_id: int, count: int) -> None:
    statuses = [
        ("To Do", "To Do", "to_do"),
        ("In Progress", "In Progress", "in_progress"),
        ("Code Review", "Code Review", "waiting"),
        ("Done", "Done", "done"),
    ]
    types = ["Story", "Bug", "Task", "Epic"]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    columns = (
        "tenant_id, integration_id, external_id, key, project_key, summary, source_type, "
        "type_name, hierarchy_level, type_mapped, source_status, workflow_step, step_category, "
        "status_mapped, assignee, source_created_at, source_updated_at, version, config_version, "
        "active, labels, step_seconds, start_count, completion_count, backlog_return_count, "
        "work_seconds, waiting_seconds, rework, direct_completion, unmapped_status_seconds, "
        "cycle_seconds, lead_seconds, created_at, updated_at"
    )
    rng = random.Random(7)
    plain_url = url.replace("postgresql+psycopg://", "postgresql://")
    with (
        psycopg.connect(plain_url) as conn,
        conn.cursor() as cursor,
        cursor.copy(f"COPY work_items ({columns}) FROM STDIN") as copy,
    ):
        for n in range(count):
            project = "BENCH" if n % 3 else "CORE"
            status, step, category = statuses[n % 4]
            updated = start + timedelta(minutes=n * 3 + rng.randrange(3))
            copy.write_row(
                (
                    tenant_id,
                    integration_id,
                    str(100_000 + n),
                    f"{project}-{n}",
                    project,
                    f"Work item {n}: improve the {rng.choice(['api', 'ui', 'etl', 'docs'])} "
                    f"for customer {rng.randrange(500)}",
                    types[n % 4],
                    types[n % 4],
                    0,
                    True,
                    status,
                    step,
                    category,
                    True,
                    f"dev{n % 40}",
                    updated - timedelta(days=3),
                    updated,
                    n + 1,
                    1,
                    True,
                    "[]",
                    "{}",
                    1,
                    1 if category == "done" else 0,
                    0,
                    3600,
                    600,
                    False,
                    False,
                    0,
                    86_400 if category == "done" else None,
                    172_800 if category == "done" else None,
                    updated,
                    updated,
                )
            )
    # What autovacuum does soon after a bulk load: statistics and the visibility map (without
    # it every count reads the heap instead of the index alone).
    with psycopg.connect(plain_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    progress(f"loaded {count:,} work items")


@contextmanager
def serve(url: str, state_dir: Path, port: int, workers: int) -> Iterator[tuple[str, int]]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "JWT_SECRET": "bench-jwt-secret-0123456789-0123456789-xyz",
        "ENCRYPTION_KEY": os.environ["BENCH_ENCRYPTION_KEY"],
        "STATE_DIR": str(state_dir),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("RABBITMQ_URL", None)
    process = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/pulse"),
            "web",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("pulse web did not start")
            time.sleep(0.2)
        progress(f"pulse web is up on {base} ({workers} worker process(es))")
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _cookie(response: httpx.Response, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise SystemExit(f"no {name} cookie in the response of {response.request.url}")


async def log_in(client: httpx.AsyncClient, base: str) -> dict[str, str]:
    """The real login form: its nonce cookie and CSRF token, then the session cookie. Cookies
    are Secure, which httpx will not send over plain http, so they travel as headers."""
    form = await client.get(f"{base}/login")
    nonce = _cookie(form, "pulse_login")
    token = re.search(r'name="csrf-token" content="([^"]+)"', form.text)
    assert token is not None
    answer = await client.post(
        f"{base}/login",
        data={"email": EMAIL, "password": PASSWORD},
        headers={
            "Cookie": f"pulse_login={nonce}",
            "X-CSRF-Token": token.group(1),
            "Origin": base,
        },
    )
    if answer.status_code != 303:
        raise SystemExit(f"login failed: {answer.status_code} {answer.text[:200]}")
    return {"Cookie": f"pulse_session={_cookie(answer, 'pulse_session')}"}


Fetched = tuple[int, bytes]


async def measure(
    base: str,
    clients: int,
    requests: int,
    paths: list[str],
    headers: dict[str, str] | None = None,
    *,
    with_httpx: bool = False,
) -> list[float]:
    """`clients` concurrent clients, each logged in, each making `requests` requests to paths
    picked in turn; the latency of every request in ms. Logins (argon2, deliberately slow)
    happen two at a time, through httpx, before the timed part starts. The timed requests go
    through `http1.Connection` (see there why), or httpx with `with_httpx`."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    sessions = [httpx.AsyncClient(limits=limits, timeout=60) for _ in range(clients)]
    gate = asyncio.Semaphore(2)

    async def logged_in(client: httpx.AsyncClient) -> dict[str, str]:
        async with gate:
            return await log_in(client, base)

    latencies: list[float] = []

    async def via_httpx(client: httpx.AsyncClient, auth: dict[str, str], path: str) -> Fetched:
        response = await client.get(f"{base}{path}", headers={**auth, **(headers or {})})
        return response.status_code, response.content

    async def one(number: int, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
        rng = random.Random(number)
        async with AsyncExitStack() as stack:
            fetch: Callable[[str], Awaitable[Fetched]]
            if with_httpx:
                fetch = functools.partial(via_httpx, client, auth)
            else:
                connection = await stack.enter_async_context(http1.Connection(base, auth))
                fetch = functools.partial(connection.get, headers=headers)
            for _ in range(requests):
                path = rng.choice(paths)
                started = time.perf_counter()
                status, body = await fetch(path)
                latencies.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise SystemExit(f"{path}: {status} {body[:200]!r}")

    try:
        auths = await asyncio.gather(*(logged_in(c) for c in sessions))
        pairs = enumerate(zip(sessions, auths, strict=True))
        await asyncio.gather(*(one(n, client, auth) for n, (client, auth) in pairs))
    finally:
        for client in sessions:
            await client.aclose()
    return latencies


def worker_cpu(parent: int) -> dict[int, float]:
    """CPU seconds (user + system) so far of each child process of `parent` (the web workers)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    ticks = os.sysconf("SC_CLK_TCK")
    spent = {}
    for child in children:
        # The fields after the command name, which is in parentheses and may hold spaces.
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        spent[int(child)] = (int(fields[11]) + int(fields[12])) / ticks
    return spent


def busiest_share(before: dict[int, float], after: dict[int, float]) -> float:
    """The busiest worker's part of the workers' CPU between two readings: 1 / workers when
    the load is even. SO_REUSEPORT spreads connections by a hash, not by load."""
    spent = [after[pid] - before.get(pid, 0.0) for pid in after]
    return round(max(spent) / sum(spent), 2) if sum(spent) > 0 else 0.0


def _p(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100)[q - 1], 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="per client and page")
    parser.add_argument(
        "--workers", type=int, default=2, help="`pulse web --workers` (one per core)"
    )
    parser.add_argument(
        "--httpx",
        action="store_true",
        help="time the requests through httpx (as before 2026-11-29) instead of http1.py",
    )
    args = parser.parse_args()
    unwind_on_sigterm()
    key = Fernet.generate_key().decode()
    os.environ["BENCH_ENCRYPTION_KEY"] = key
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    state_dir = Path(f"/tmp/pulse-bench-web-{os.getpid()}")
    with throwaway_database(args.admin_url, "pulse_bench_web") as url:
        populate(url, args.items, CredentialCipher(key))
        with serve(url, state_dir, port, args.workers) as (base, server_pid):
            # Warm-up: connections, template compilation, PostgreSQL caches.
            asyncio.run(measure(base, 4, 10, ["/jobs", "/data/work-items"]))
            figures: dict[str, Any] = {
                "items": args.items,
                "clients": args.clients,
                "web_workers": args.workers,
                "client": "httpx" if args.httpx else "http1",
            }
            total, started = 0, time.monotonic()
            phases = {
                "jobs": (["/jobs"], None),
                "data": (["/data/work-items"], None),
                "data_deep": ([f"/data/work-items?page={n}" for n in range(2, 201)], None),
                "data_search": (
                    ["/data/work-items?q=customer+42", "/data/work-items?q=etl&project=CORE"],
                    {"HX-Request": "true", "HX-Target": "results"},
                ),
            }
            # One client alone: the service time without queueing, to read the others against.
            for name, path in (("jobs_single", "/jobs"), ("data_single", "/data/work-items")):
                alone = asyncio.run(measure(base, 1, 100, [path], with_httpx=args.httpx))
                figures[f"{name}_p50_ms"] = _p(alone, 50)
                progress(f"{name}: p50 {figures[f'{name}_p50_ms']} ms (one client)")
            for name, (paths, headers) in phases.items():
                cpu_before = worker_cpu(server_pid)
                latencies = asyncio.run(
                    measure(
                        base, args.clients, args.requests, paths, headers, with_httpx=args.httpx
                    )
                )
                total += len(latencies)
                figures[f"{name}_p50_ms"] = _p(latencies, 50)
                figures[f"{name}_p95_ms"] = _p(latencies, 95)
                if args.workers > 1:
                    share = busiest_share(cpu_before, worker_cpu(server_pid))
                    figures[f"{name}_busiest_worker_share"] = share
                progress(
                    f"{name}: p50 {figures[f'{name}_p50_ms']} ms, "
                    f"p95 {figures[f'{name}_p95_ms']} ms over {len(latencies)} requests"
                )
            figures["rps"] = round(total / (time.monotonic() - started), 1)
            # Other work on the host shows here: the figures mean little above ~2 (2 cores).
            figures["host_load_1min"] = round(os.getloadavg()[0], 1)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

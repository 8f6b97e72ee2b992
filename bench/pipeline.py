"""Pipeline benchmark: Jira issues/s through RabbitMQ and PostgreSQL (`pulse flow transform` and
`pulse flow load` shard processes), against the physical limit measured in the same run (a bare
COPY of the same output rows into the same tables), plus peak RSS and the transform's shard
speedup.

    .venv/bin/python bench/pipeline.py [--issues N --tenants T --shards K]

Progress goes to stderr; the figures go to stdout as one JSON line. A throwaway PostgreSQL
database (`pulse_bench_<pid>`) and RabbitMQ virtual hosts are created and dropped at the end,
also when the benchmark fails or is interrupted. See bench/README.md for the goals.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the synthetic issues live with the pipeline tests

from support import progress, throwaway_database, unwind_on_sigterm  # noqa: E402

from dataflows.rabbitmq import Topology, shard_partitions  # noqa: E402
from storage.db import make_engine, session_factory  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.schema import Base  # noqa: E402
from tests.dataflows.pipeline.processes import pulse_env, start_pulse  # noqa: E402
from tests.dataflows.pipeline.synthetic import issues  # noqa: E402
from tests.dataflows.pipeline.synthetic_store import (  # noqa: E402
    BodySpool,
    SyntheticTenant,
    autoanalyze,
    make_tenant,
    publish,
    store_issues,
)

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RABBIT_HOST = "127.0.0.1:5672"
IDLE = 3.0  # --stop-at-idle of the shard-speedup runs, subtracted from their time
_READING = re.compile(rb"reading stream etl\.\w+\.\d+ from offset")


# -- throwaway database and virtual hosts ----------------------------------------------------------


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True)


@contextmanager
def throwaway_vhost(partitions: int) -> Iterator[str]:
    vhost = f"pulse_bench_{os.getpid()}_{secrets.token_hex(3)}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        url = f"amqp://guest:guest@{RABBIT_HOST}/{vhost}"
        Topology(partitions, 3).declare_at(url, name="bench-topology")
        yield url
    finally:
        _rabbitmqctl("delete_vhost", vhost)


# -- dataflow processes ----------------------------------------------------------------------------


@dataclass
class Shard:
    """One `pulse flow` process."""

    stage: str
    index: int
    count: int
    partitions: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    peak_rss_mb: float = 0.0
    restarts: list[str] = field(default_factory=list)  # why each crashed run ended
    _args: tuple[dict[str, str], Path, tuple[str, ...]] | None = None

    def start(self, env: dict[str, str], recovery: Path, *extra: str) -> None:
        if self._args is None:
            self.log.unlink(missing_ok=True)
        self._args = (env, recovery, extra)
        self.process = start_pulse(
            env,
            "flow",
            self.stage,
            "--shard",
            str(self.index),
            "--shards",
            str(self.count),
            "--recovery-dir",
            str(recovery),
            *extra,
            log=self.log,
        )

    @property
    def ready(self) -> bool:
        """Its source reads every partition it owns."""
        owned = len(shard_partitions(self.partitions, self.index, self.count))
        return self.log.exists() and len(_READING.findall(self.log.read_bytes())) >= owned

    def sample_rss(self) -> None:
        """VmHWM: the process's peak resident set so far (kernel-tracked, no sampling gaps)."""
        assert self.process is not None
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return
        found = re.search(r"VmHWM:\s+(\d+) kB", status)
        if found:
            self.peak_rss_mb = max(self.peak_rss_mb, int(found.group(1)) / 1024)

    def check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.stage} shard {self.index} exited early:\n{tail}")

    def supervise(self, limit: int = 10) -> None:
        """Restart a crashed run from its recovery directory, as a process supervisor would
        (compose `restart: always`), and keep the reason; the figures report restarts."""
        assert self.process is not None
        assert self._args is not None
        if self.process.poll() is None:
            return
        lines = self.log.read_text(errors="replace").splitlines()
        # The cause (e.g. "pulse.errors.RetriableError: lost stream ..."), not Bytewax's wrapper.
        errors = [line for line in lines if "pulse.errors." in line] or [
            line for line in lines if "Error" in line
        ]
        reason = errors[-1][:300] if errors else f"exit code {self.process.returncode}"
        self.restarts.append(reason)
        progress(f"  {self.stage} shard {self.index} crashed, restarting: {reason}")
        if len(self.restarts) > limit:
            raise RuntimeError(f"{self.stage} shard {self.index} crashed {limit} times")
        env, recovery, extra = self._args
        self.start(env, recovery, *extra)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait_ready(shards: list[Shard], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all(s.ready for s in shards):
        for shard in shards:
            shard.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError("the dataflow processes did not start reading in time")
        time.sleep(0.1)


# -- setup -----------------------------------------------------------------------------------------


@dataclass
class Setup:
    tenants: list[SyntheticTenant]
    spool: BodySpool
    issues_per_tenant: int
    records: int = 0
    seconds: float = 0.0
    by_partition: dict[int, int] = field(default_factory=dict)  # messages


def generate(url: str, tenants: list[SyntheticTenant], per_tenant: int, partitions: int) -> Setup:
    started = time.monotonic()
    setup = Setup(tenants, BodySpool(), per_tenant)
    for n, tenant in enumerate(tenants):
        setup.records += store_issues(
            url, tenant, issues(per_tenant, seed=n + 1), setup.spool, partitions=partitions
        )
        progress(f"  tenant {tenant.id}: {per_tenant} issues stored ({setup.records} records)")
    for partition, _ in setup.spool:
        setup.by_partition[partition] = setup.by_partition.get(partition, 0) + 1
    setup.seconds = time.monotonic() - started
    return setup


def query_one(url: str, query: str, *args: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, args).fetchone()
        assert row is not None
        return row[0]


# -- the pipeline ----------------------------------------------------------------------------------


@dataclass
class PipelineRun:
    seconds: float
    publish_seconds: float
    peak_rss_mb: dict[str, float]
    restarts: dict[str, list[str]]


def flow_env(
    url: str, rabbit: str, partitions: int, work: Path, extra: list[str]
) -> dict[str, str]:
    """The dataflow processes' environment: production defaults, plus `--env` overrides."""
    env = pulse_env(url, rabbit, work, ETL_PARTITIONS=str(partitions), LOG_LEVEL="INFO")
    env.pop("ETL_BATCH_MAX_DELAY_MS")
    for assignment in extra:
        key, _, value = assignment.partition("=")
        env[key] = value
    return env


@contextmanager
def running_shards(
    env: dict[str, str], shards_per_stage: int, partitions: int, work: Path
) -> Iterator[list[Shard]]:
    """Transform and load shards, reading; stopped on the way out."""
    shards = [
        Shard(stage, k, shards_per_stage, partitions, work / f"{stage}-{k}.log")
        for stage in ("transform", "load")
        for k in range(shards_per_stage)
    ]
    try:
        for shard in shards:
            shard.start(env, work / f"recovery-{shard.stage}-{shard.index}")
        _wait_ready(shards)
        yield shards
    finally:
        for shard in shards:
            shard.stop()


def wait_processed(
    url: str, shards: list[Shard], total: int, started: float, *, busy: threading.Thread | None
) -> float:
    """Until no raw record is unprocessed (and `busy` is done); returns when, sampling the
    shards' RSS on the way."""
    last_report = time.monotonic()
    while True:
        time.sleep(0.5)
        for shard in shards:
            shard.sample_rss()
            shard.supervise()
        left = query_one(url, "SELECT count(*) FROM raw_records WHERE processed_at IS NULL")
        now = time.monotonic()
        if left == 0 and (busy is None or not busy.is_alive()):
            return now
        if now - last_report >= 10:
            done = total - left
            progress(f"  {done} of {total} records processed ({done / (now - started):.0f}/s)")
            last_report = now


def peak_rss(shards: list[Shard]) -> dict[str, float]:
    rss: dict[str, float] = {}
    for shard in shards:
        shard.sample_rss()
        rss[shard.stage] = max(rss.get(shard.stage, 0.0), round(shard.peak_rss_mb, 1))
    return rss


def run_pipeline(url: str, setup: Setup, shards: list[Shard], rabbit: str) -> PipelineRun:
    """With the shards reading: publish every message (a thread, as the relay would) and wait
    until every raw record is processed (loaded, or superseded in a window)."""
    published: dict[str, float] = {}

    def publisher() -> None:
        publish(rabbit, setup.spool)
        published["at"] = time.monotonic()

    thread = threading.Thread(target=publisher, name="publish", daemon=True)
    started = time.monotonic()
    thread.start()
    done = wait_processed(url, shards, setup.records, started, busy=thread)
    return PipelineRun(
        done - started, published["at"] - started, peak_rss(shards), restarts_of(shards)
    )


def restarts_of(shards: list[Shard]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for shard in shards:
        found.setdefault(shard.stage, []).extend(shard.restarts)
    return found


def verify(url: str, setup: Setup) -> None:
    """Figures from an incomplete run would mislead: every issue must be loaded once."""
    for tenant in setup.tenants:
        items = query_one(url, "SELECT count(*) FROM work_items WHERE tenant_id = %s", tenant.id)
        if items != setup.issues_per_tenant:
            raise RuntimeError(
                f"tenant {tenant.id}: {items} work items, not {setup.issues_per_tenant}"
            )
    dead = query_one(url, "SELECT count(*) FROM dead_letters")
    if dead:
        raise RuntimeError(f"{dead} dead letters")


# -- the physical limit: a bare COPY of the same rows ----------------------------------------------

_COPIED = ("sprints", "work_items", "work_item_transitions", "work_item_sprints")  # parents first
_CHILDREN = ("work_item_transitions", "work_item_sprints")


def _columns(table: str) -> list[str]:
    skip = {"id", "tenant_id", "integration_id", "work_item_id"}
    return [c.name for c in Base.metadata.tables[table].columns if c.name not in skip]


def _target_columns(table: str) -> str:
    parent = ["work_item_id"] if table in _CHILDREN else []
    return ", ".join(["id", "tenant_id", "integration_id", *parent, *_columns(table)])


def _export(
    conn: psycopg.Connection[Any],
    table: str,
    source: SyntheticTenant,
    copy: SyntheticTenant,
    shift: int,
    item_shift: int,
) -> bytes:
    """The source tenant's rows as COPY text, readdressed to `copy` with ids shifted."""
    parent = [sql.SQL("t.work_item_id + {}").format(item_shift)] if table in _CHILDREN else []
    query = sql.SQL(
        "COPY (SELECT {fields} FROM {table} t WHERE t.tenant_id = {source} ORDER BY t.id) TO STDOUT"
    ).format(
        fields=sql.SQL(", ").join(
            [
                sql.SQL("t.id + {}").format(shift),
                sql.Literal(copy.id),
                sql.Literal(copy.integration_id),
                *parent,
                *(sql.Identifier("t", c) for c in _columns(table)),
            ]
        ),
        table=sql.Identifier(table),
        source=sql.Literal(source.id),
    )
    with conn.cursor() as cur, cur.copy(query) as out:
        return b"".join(bytes(data) for data in out)


def copy_baseline(url: str, setup: Setup, copies: list[SyntheticTenant]) -> tuple[float, int]:
    """Export the rows the pipeline loaded as COPY text readdressed to fresh tenants (ids past
    the existing ones); then time COPYing that text into the same tables (indexes and
    constraints as they are), in one transaction. Returns (seconds, rows)."""
    texts: dict[str, list[bytes]] = {table: [] for table in _COPIED}
    with psycopg.connect(url) as conn:
        bases = {
            table: int(_one(conn, sql.SQL("SELECT coalesce(max(id), 0) + 1 FROM {}"), table)[0])
            for table in _COPIED
        }
        for source, target in zip(setup.tenants, copies, strict=True):
            shifts: dict[str, int] = {}
            for table in _COPIED:
                low, high = _one(
                    conn,
                    sql.SQL("SELECT min(id), max(id) FROM {} WHERE tenant_id = %s"),
                    table,
                    source.id,
                )
                if low is None:
                    continue
                shifts[table] = bases[table] - low
                bases[table] += high - low + 1
                texts[table].append(
                    _export(conn, table, source, target, shifts[table], shifts.get("work_items", 0))
                )
    rows = sum(text.count(b"\n") for parts in texts.values() for text in parts)
    with psycopg.connect(url) as conn:
        started = time.monotonic()
        with conn.cursor() as cur:
            for table in _COPIED:
                statement = f"COPY {table} ({_target_columns(table)}) FROM STDIN"
                with cur.copy(statement) as copy:
                    for text in texts[table]:
                        for offset in range(0, len(text), 1 << 20):
                            copy.write(text[offset : offset + (1 << 20)])
        conn.commit()
        seconds = time.monotonic() - started
    return seconds, rows


def _one(conn: psycopg.Connection[Any], query: sql.SQL, table: str, *args: Any) -> tuple[Any, ...]:
    row = conn.execute(query.format(sql.Identifier(table)), args).fetchone()
    assert row is not None
    return tuple(row)


# -- shard speedup: the transform alone, its input already in the streams --------------------------


def transform_drain(
    env: dict[str, str], shards: int, partitions: int, work: Path
) -> tuple[float, float, int]:
    """Run `shards` transform shards over what the raw streams hold, from the first offset,
    until idle. Returns (seconds from the first shard reading to the last one's end of input,
    peak RSS MB of the largest, crashes restarted)."""
    run = [
        Shard("transform", k, shards, partitions, work / f"drain-{shards}-{k}.log")
        for k in range(shards)
    ]
    for shard in run:
        recovery = work / f"recovery-drain-{shards}-{shard.index}"
        shard.start(env, recovery, "--stop-at-idle", str(IDLE))
    reading: float | None = None  # when the first shard read all its partitions
    try:
        while not all(s.process is not None and s.process.poll() == 0 for s in run):
            for shard in run:
                shard.sample_rss()
                if shard.process is not None and shard.process.poll() not in (None, 0):
                    shard.supervise()
            if reading is None and any(s.ready for s in run):
                reading = time.monotonic()
            time.sleep(0.1)
        if reading is None:
            raise RuntimeError("no transform shard logged reading its partitions")
        seconds = time.monotonic() - reading - IDLE
    finally:
        for shard in run:
            shard.stop()
    return seconds, max(s.peak_rss_mb for s in run), sum(len(s.restarts) for s in run)


def publish_subset(rabbit: str, setup: Setup, issues_wanted: int) -> int:
    """The first messages of every partition, about `issues_wanted` issues in all; returns the
    raw records published."""
    issues_total = setup.issues_per_tenant * len(setup.tenants)
    wanted = -(-issues_wanted * setup.spool.messages // issues_total)  # messages, rounded up
    per_partition = -(-wanted // len(setup.by_partition))
    taken: dict[int, int] = {}
    records = 0

    def chosen() -> Iterator[tuple[int, bytes]]:
        nonlocal records
        for partition, body in setup.spool:
            if taken.get(partition, 0) < per_partition:
                taken[partition] = taken.get(partition, 0) + 1
                records += body.count(b'"raw_id":')
                yield partition, body

    publish(rabbit, chosen())
    return records


# -- main ------------------------------------------------------------------------------------------


def bench(args: argparse.Namespace, url: str, work: Path) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        upgrade(engine)
        factory = session_factory(engine)
        tenants = [make_tenant(factory, f"Bench {n}") for n in range(args.tenants)]
        copies = [make_tenant(factory, f"Copy {n}", with_run=False) for n in range(args.tenants)]
    finally:
        engine.dispose()
    per_tenant = -(-args.issues // args.tenants)  # at least --issues in all
    partitions = args.partitions
    progress(f"generating {per_tenant * args.tenants} issues for {args.tenants} tenants")
    setup = generate(url, tenants, per_tenant, partitions)
    issues_total = per_tenant * args.tenants
    progress(
        f"  {setup.records} raw records, {setup.spool.bytes / 1e6:.0f} MB in "
        f"{setup.spool.messages} messages, {setup.seconds:.0f} s; messages by partition "
        f"{dict(sorted(setup.by_partition.items()))}"
    )
    try:
        progress(f"pipeline: {args.shards} transform and {args.shards} load shard(s)")
        with (
            throwaway_vhost(partitions) as rabbit,
            running_shards(
                flow_env(url, rabbit, partitions, work, args.env), args.shards, partitions, work
            ) as shards,
            autoanalyze(url, args.analyze_every),
        ):
            progress("  shards reading; publishing")
            run = run_pipeline(url, setup, shards, rabbit)
        progress(
            f"  all processed in {run.seconds:.1f} s (published in {run.publish_seconds:.1f} s)"
        )
        verify(url, setup)

        progress("bare COPY of the same rows into the same tables")
        copy_seconds, copy_rows = copy_baseline(url, setup, copies)
        progress(f"  {copy_rows} rows in {copy_seconds:.1f} s")

        shard_issues = min(args.shard_issues, issues_total)
        with throwaway_vhost(partitions) as rabbit:
            shard_records = publish_subset(rabbit, setup, shard_issues)
            progress(f"shard speedup: transform alone over {shard_records} raw records")
            env = flow_env(url, rabbit, partitions, work, args.env)
            two, two_rss, two_restarts = transform_drain(env, 2, partitions, work)
            progress(f"  2 shards: {two:.1f} s")
            one, one_rss, one_restarts = transform_drain(env, 1, partitions, work)
            progress(f"  1 shard: {one:.1f} s")
    finally:
        setup.spool.close()

    issues_per_s = issues_total / run.seconds
    copy_issues_per_s = issues_total / copy_seconds
    return {
        "issues": issues_total,
        "records": setup.records,
        "raw_mb": round(setup.spool.bytes / 1e6, 1),
        "tenants": args.tenants,
        "partitions": partitions,
        "shards_per_stage": args.shards,
        "seconds": round(run.seconds, 1),
        "publish_seconds": round(run.publish_seconds, 1),
        "issues_per_s": round(issues_per_s, 1),
        "records_per_s": round(setup.records / run.seconds, 1),
        "copy_rows": copy_rows,
        "copy_seconds": round(copy_seconds, 2),
        "copy_issues_per_s": round(copy_issues_per_s, 1),
        "copy_ratio": round(issues_per_s / copy_issues_per_s, 3),
        "peak_rss_mb": max(run.peak_rss_mb.values()),
        "peak_rss_mb_by_stage": run.peak_rss_mb,
        "shard_records": shard_records,
        "transform_1_shard_seconds": round(one, 1),
        "transform_2_shards_seconds": round(two, 1),
        "transform_records_per_s_1_shard": round(shard_records / one, 1),
        "transform_peak_rss_mb": round(max(one_rss, two_rss), 1),
        "shard_speedup": round(one / two, 2),
        "restarts": {stage: len(reasons) for stage, reasons in run.restarts.items()},
        "restart_reasons": sorted({r for reasons in run.restarts.values() for r in reasons})[:3],
        "transform_drain_restarts": one_restarts + two_restarts,
        "setup_seconds": round(setup.seconds, 1),
        "analyze_every_s": args.analyze_every,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=200_000, help="Jira issues (default 200000)")
    parser.add_argument("--tenants", type=int, default=6, help="tenants (default 6)")
    parser.add_argument("--partitions", type=int, default=16, help="stream partitions (default 16)")
    parser.add_argument("--shards", type=int, default=1, help="shards per stage (default 1)")
    parser.add_argument(
        "--shard-issues", type=int, default=40_000, help="issues of the shard-speedup runs"
    )
    add_dataflow_options(parser)
    return run_bench(parser.parse_args(argv), bench)


def add_dataflow_options(parser: argparse.ArgumentParser) -> None:
    """Options every benchmark that runs the dataflow processes shares (replay.py too)."""
    parser.add_argument(
        "--analyze-every",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="ANALYZE the pipeline's tables this often while it runs, as autovacuum would "
        "(this server runs without it; 0: never; default 15)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment of the dataflow processes, e.g. ETL_BATCH_SIZE=200 (repeatable)",
    )
    parser.add_argument("--admin-url", default=ADMIN_URL, help="PostgreSQL maintenance database")


def run_bench(
    args: argparse.Namespace, bench: Callable[[argparse.Namespace, str, Path], dict[str, Any]]
) -> int:
    """Run `bench` in a throwaway database and work directory; print its one JSON line."""
    unwind_on_sigterm()
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory(prefix="pulse-bench-") as work,
        throwaway_database(args.admin_url) as url,
    ):
        figures = bench(args, url, Path(work))
    if args.env:
        figures["env"] = args.env
    figures["load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    figures["total_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

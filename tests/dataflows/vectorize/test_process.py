"""`pulse vectorize` as operators run it: a separate process that reports its heartbeat and its
health and metrics on a port, embeds what arrives on the queue, and exits cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pika
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from dataflows.rabbitmq import VECTORIZE_QUEUE, ConfirmedPublisher, Topology
from storage.schema import WorkerHeartbeat
from tests.pulse.ops.scrape import free_port, sample, status
from tests.storage.loader.world import World

from .facts import add_work_item, vector_rows, work_item_request

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"pulse vectorize exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_the_worker_process_embeds_serves_health_and_stops_cleanly_on_sigterm(
    acme: World, pg_url: str, rabbit_url: str, tmp_path: Path
) -> None:
    add_work_item(acme, "1", "Login page rejects valid passwords")
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_url))
    try:
        channel = connection.channel()
        Topology(1, 3).declare(channel)
        channel.queue_purge(VECTORIZE_QUEUE)
    finally:
        connection.close()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("QDRANT", "VECTORIZE"))},
        "DATABASE_URL": pg_url,
        "RABBITMQ_URL": rabbit_url,
        "QDRANT_PATH": str(tmp_path / "qdrant"),
        "STATE_DIR": str(tmp_path / "state"),
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ETL_PARTITIONS": "1",
        "EMBEDDING_PROVIDER": "auto",
    }
    log = tmp_path / "vectorize.log"
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "pulse.cli", "vectorize", "--name", "vectorize-test"),
                *("--health-port", str(port)),
            ],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:

        def beating() -> bool:
            with acme.factory() as session:
                row = session.get(WorkerHeartbeat, "vectorize-test")
                return row is not None and row.kind == "vectorize"

        _wait_for(beating, process, "its heartbeat")
        with ConfirmedPublisher(rabbit_url, name="test-load") as publisher:
            publisher.publish("", VECTORIZE_QUEUE, work_item_request(acme, "1").to_json())
        _wait_for(lambda: "1" in vector_rows(acme), process, "the work item's vector")
        assert (status(port, "/healthz"), status(port, "/readyz")) == (200, 200)
        assert sample(port, "pulse_records_total", stage="vectorize") == 1
        with ConfirmedPublisher(rabbit_url, name="test-poison") as publisher:
            publisher.publish("", VECTORIZE_QUEUE, b"{truncated")

        def counted() -> bool:
            errors = sample(port, "pulse_errors_total", stage="vectorize", kind="fatal")
            return errors == 1

        _wait_for(counted, process, "the poison message's error in /metrics")

        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output_text = log.read_text(errors="replace")
    assert process.returncode == 0, output_text[-2000:]
    assert "vectorize worker vectorize-test stopped" in output_text
    with acme.factory() as session:
        assert session.scalar(select(WorkerHeartbeat.pid)) == process.pid

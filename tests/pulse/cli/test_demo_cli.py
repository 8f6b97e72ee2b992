"""`pulse demo` as a newcomer runs it, in a subprocess on embedded defaults: `--no-serve` prints
one JSON line and exits 0; serving, it executes a run the UI queues, and Ctrl-C stops the web
UI and the simulator it started."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pulse.jobs import ExtractDispatcher, JobService
from pulse.settings import Settings
from storage.db import make_engine, session_factory
from storage.repositories import jobs, tenants
from tests.demo.env import ISSUES, PRS, SCALE, run_state

pytestmark = pytest.mark.slow

PULSE = Path(sys.executable).with_name("pulse")


def _env() -> dict[str, str]:
    """No setting from the environment: the embedded defaults."""
    return {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}


def _demo(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PULSE), "demo", "--state-dir", str(cwd / "state"), "--simulator-port", "0", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_no_serve_prints_one_json_line_with_matching_counts(tmp_path: Path) -> None:
    done = _demo(tmp_path, "--no-serve", "--scale", SCALE)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    report = json.loads(lines[0])
    assert report["ok"] is True
    assert report["counts"]["work_items"] == {"loaded": ISSUES, "simulator": ISSUES}
    assert report["counts"]["pull_requests"] == {"loaded": PRS, "simulator": PRS}
    assert report["counts"]["vector_points"] == {"loaded": ISSUES + PRS, "simulator": ISSUES + PRS}
    assert report["counts"]["qdrant_points"] == {"loaded": ISSUES + PRS, "simulator": ISSUES + PRS}
    assert "admin login: admin@demo.example / " in done.stderr
    assert (tmp_path / "state" / "pulse.db").is_file()
    assert not (tmp_path / ".pulse").exists()  # --state-dir moved everything


def test_a_bad_scale_is_refused_in_one_line(tmp_path: Path) -> None:
    done = _demo(tmp_path, "--no-serve", "--scale", "issues=lots", timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "invalid demo --scale 'issues=lots'" in done.stderr


def _wait_for(log: Path, pattern: str, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text()
        found = re.search(pattern, text)
        if found:
            return found.group(1)
        assert process.poll() is None, f"pulse demo exited {process.returncode}:\n{text}"
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} not seen within {timeout} s:\n{log.read_text()}")


def _exit_code(process: subprocess.Popen[bytes], log: Path, *, timeout: float) -> int:
    """The process's exit code; if it does not exit in time, fail with its threads' stacks
    (`pulse` dumps them on SIGUSR1) and the end of its log."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)
        time.sleep(2)
        raise AssertionError(
            f"pulse demo still running {timeout} s after Ctrl-C:\n{log.read_text()[-12_000:]}"
        ) from None


def _run_now(database_url: str) -> int:
    """What "Run now" on the Jira job's card does (the same jobs service)."""
    engine = make_engine(database_url)
    factory = session_factory(engine)
    try:
        with factory() as session:
            tenant = tenants.find_tenant(session, "demo")
            assert tenant is not None
            job = next(j for j in jobs.list_jobs(session, tenant.id) if j.last_run_id)
        with JobService(factory, ExtractDispatcher(None), max_retries=0) as service:
            return service.run_now(tenant.id, job.id).id
    finally:
        engine.dispose()


def test_serving_runs_what_the_ui_queues_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(str(PULSE), "demo", "--state-dir", str(tmp_path / "state")),
                *("--simulator-port", "0", "--port", "0", "--scale", SCALE),
            ],
            cwd=tmp_path,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    try:
        simulator = _wait_for(log, r"API simulator at (http://\S+):", process, 60)
        web = _wait_for(log, r"serving (http://\S+) \(log in", process, 120)
        assert httpx.get(f"{web}/healthz").text == "ok"
        assert httpx.get(f"{web}/login").status_code == 200
        assert httpx.get(f"{simulator}/_sim/stats").status_code == 200
        database_url = f"sqlite:///{tmp_path / 'state' / 'pulse.db'}"
        run_id = _run_now(database_url)
        _wait_for(log, rf"run ({run_id}) \(started in the UI\) is over", process, 120)
        assert run_state(database_url, run_id) == "succeeded"

        process.send_signal(signal.SIGINT)
        assert _exit_code(process, log, timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "demo: stopping" in log.read_text()
    for url in (web, simulator):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/", timeout=2)

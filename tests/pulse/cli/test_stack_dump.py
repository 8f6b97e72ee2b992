"""`kill -USR1` on any `pulse` process prints every thread's stack to stderr, and the process
carries on serving: how an operator sees where a stuck worker waits."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PULSE = Path(sys.executable).with_name("pulse")


def _complete_dump(text: str) -> bool:
    """The dump has reached the first frame of the thread that took the signal (the main one)."""
    return 'File "' in text.partition("Current thread")[2]


def test_sigusr1_dumps_every_threads_stack_and_the_process_goes_on(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stderr = tmp_path / "stderr"
    with stderr.open("wb") as out:
        process = subprocess.Popen(
            [str(PULSE), "simulator", "serve", "--port", str(port), "--scale", "issues=5,prs=2"],
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/_sim/stats", timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None, stderr.read_text()
                assert time.monotonic() < deadline, "the simulator did not start"
                time.sleep(0.1)
        process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not _complete_dump(stderr.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        dump = stderr.read_text()
        assert "Current thread" in dump  # the main thread, marked by faulthandler
        assert 'File "' in dump.split("Current thread", 1)[1]  # with its frames
        assert process.poll() is None  # still running
        assert httpx.get(f"{base}/_sim/stats", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(10)

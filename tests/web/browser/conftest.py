"""A real browser (Debian's chromium driven by Playwright) against the app served by uvicorn
on 127.0.0.1, with the API simulator for test-connection. Browsers cannot be downloaded here:
`playwright install` is never run; `/usr/bin/chromium` comes from `apt-get install chromium`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import Engine
from starlette.applications import Starlette

from connectors.simulator import SimulatorServer
from connectors.simulator.config import config_for
from tests.web.conftest import World, make_settings
from tests.web.world import PASSWORD
from web import WebConfig, create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    app: Starlette
    url: str


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # a thread cannot own signals
        pass


@contextmanager
def _serve(engine: Engine, state_dir: Path, rabbitmq_url: str | None) -> Iterator[Served]:
    """The app on a free loopback port (uvicorn in a thread) until the block ends."""
    settings = make_settings(
        engine.url.render_as_string(hide_password=False), state_dir, rabbitmq_url=rabbitmq_url
    )
    app = create_app(settings, engine=engine, config=WebConfig())
    port = _free_port()
    server = _Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        assert time.monotonic() < deadline, "uvicorn did not start within 20 s"
        time.sleep(0.05)
    try:
        yield Served(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture
def served(pg_engine: Engine, tmp_path: Path) -> Iterator[Served]:
    with _serve(pg_engine, tmp_path, None) as running:
        yield running


@pytest.fixture
def served_with_rabbitmq(pg_engine: Engine, tmp_path: Path, rabbit_url: str) -> Iterator[Served]:
    """Served with RABBITMQ_URL: the app's progress consumer reads `etl.progress`."""
    with _serve(pg_engine, tmp_path, rabbit_url) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `apt-get install -y chromium` (scripts/test does it)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config_for("issues=5,prs=2,repos=1", seed=3, sites="acme")) as server:
        yield server


def log_in(page: Page, served: Served, world: World, role: str = "admin") -> None:
    page.goto(f"{served.url}/login")
    page.fill("input[name=email]", world.a.emails[role])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{served.url}/jobs")

"""At most `WebConfig.db_concurrency` requests of a web process use the database at once: the
others wait for a slot instead of opening connections past the pool. A login checks its
password (argon2, slow by design) without holding one."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, update

from pulse.settings import Settings
from storage.schema import User
from tests.web.conftest import World, csrf_meta
from tests.web.world import PASSWORD
from web import WebConfig, create_app
from web.services import WebServices

pytestmark = pytest.mark.integration


class Overlap:
    """Blocking work that records how many of its calls ran at once."""

    def __init__(self) -> None:
        self.running = self.most = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self._lock:
            self.running -= 1


def test_blocking_work_never_runs_more_than_the_slots_at_once(
    settings: Settings, pg_engine: Engine
) -> None:
    config = WebConfig(db_concurrency=2)
    app = create_app(settings, engine=pg_engine, config=config, progress_consumer=False)
    web: WebServices = app.state.web
    work = Overlap()

    async def many() -> None:
        await asyncio.gather(*(web.in_thread(work) for _ in range(8)))

    asyncio.run(many())
    assert work.most == 2


def test_a_page_waits_for_a_free_slot(settings: Settings, pg_engine: Engine) -> None:
    app = create_app(
        settings, engine=pg_engine, config=WebConfig(db_concurrency=1), progress_consumer=False
    )
    web: WebServices = app.state.web
    release = threading.Event()

    async def scenario() -> tuple[bool, int]:
        holder = asyncio.ensure_future(web.in_thread(release.wait))
        await asyncio.sleep(0.1)  # the one slot is taken
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            page = asyncio.ensure_future(c.get("/jobs"))
            await asyncio.sleep(0.3)
            waited = not page.done()
            release.set()
            response = await asyncio.wait_for(page, 10)
        await holder
        return waited, response.status_code

    waited, status = asyncio.run(scenario())
    assert waited, "the page ran while the only slot was taken"
    assert status == 303  # then it ran: no session, so to the login page


def test_a_login_checks_its_password_without_holding_a_slot(
    settings: Settings, pg_engine: Engine, world: World
) -> None:
    # About a second of argon2 (the check reads its cost from the stored hash).
    slow_hash = PasswordHasher(time_cost=24, memory_cost=65536, parallelism=1).hash(PASSWORD)
    email = world.a.emails["viewer"]
    with pg_engine.begin() as conn:
        conn.execute(update(User).where(User.email == email).values(password_hash=slow_hash))
    app = create_app(
        settings, engine=pg_engine, config=WebConfig(db_concurrency=1), progress_consumer=False
    )

    async def scenario() -> tuple[bool, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            token = csrf_meta((await c.get("/login")).text)
            login = asyncio.ensure_future(
                c.post(
                    "/login",
                    data={"email": email, "password": PASSWORD},
                    headers={"X-CSRF-Token": token, "Origin": "https://testserver"},
                )
            )
            await asyncio.sleep(0.2)  # the login is hashing now
            async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as o:
                page = await asyncio.wait_for(o.get("/jobs"), 10)
            assert page.status_code == 303  # no session: to the login page
            overtaken = not login.done()
            return overtaken, (await asyncio.wait_for(login, 30)).status_code

    overtaken, status = asyncio.run(scenario())
    assert overtaken, "the page waited for the login's password check"
    assert status == 303  # signed in


def test_password_checks_have_slots_of_their_own(settings: Settings, pg_engine: Engine) -> None:
    """argon2 takes 64 MiB a check: a burst of logins takes turns, and never a database slot."""
    config = WebConfig(db_concurrency=1, password_concurrency=2)
    app = create_app(settings, engine=pg_engine, config=config, progress_consumer=False)
    web: WebServices = app.state.web
    release = threading.Event()
    check = Overlap()

    async def burst() -> None:
        holder = asyncio.ensure_future(web.in_thread(release.wait))  # the one database slot
        try:
            await asyncio.sleep(0.1)
            checks = asyncio.gather(*(web.check_password(check) for _ in range(6)))
            await asyncio.wait_for(checks, 10)
        finally:
            release.set()
            await holder

    asyncio.run(burst())
    assert check.most == 2

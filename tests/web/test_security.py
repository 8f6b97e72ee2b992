"""Response headers, the strict CSP (no inline script anywhere), escaping, and the pinned
vendored htmx."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests.web.conftest import HX, ClientFactory, World
from web.headers import CSP

pytestmark = pytest.mark.integration

TEMPLATES = Path(__file__).parents[2] / "web" / "templates"
STATIC = Path(__file__).parents[2] / "web" / "static"
PINNED = {
    "vendor/htmx-2.0.11.min.js": "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
    "vendor/htmx-ext-sse-2.2.4.min.js": (
        "98a46496de0c3605fbffdce9167ba427bdd9553184f83f149c261891a92c0136"
    ),
}


def test_pages_carry_the_security_headers(world: World, admin) -> None:
    for response in (admin.get("/jobs"), admin.get("/jobs", headers=HX), admin.get("/nowhere")):
        headers = response.headers
        assert headers["Content-Security-Policy"] == CSP
        assert "script-src 'self'" in CSP
        assert "unsafe-inline" not in CSP
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Cache-Control"] == "no-store"
    assert admin.get("/nowhere").status_code == 404


def test_no_template_has_inline_script_or_style() -> None:
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"{path.name}: inline <script>"
        assert "<style" not in text, f"{path.name}: inline <style>"
        assert not re.search(r"\sstyle=", text), f"{path.name}: style attribute"
        assert not re.search(r"\son[a-z]+=", text), f"{path.name}: inline event handler"
        assert "|safe" not in text, f"{path.name}: |safe"
        assert "hx-on" not in text, f"{path.name}: hx-on needs eval"


def test_vendored_htmx_is_the_pinned_release(client_factory: ClientFactory) -> None:
    client = client_factory()
    for name, digest in PINNED.items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
        served = client.get(f"/static/{name}")
        assert served.status_code == 200
        assert hashlib.sha256(served.content).hexdigest() == digest
    assert "htmx-2.0.11.min.js" in (TEMPLATES / "base.html").read_text()


def test_health_endpoints(client_factory: ClientFactory) -> None:
    client = client_factory()
    assert client.get("/healthz").text == "ok"
    assert client.get("/readyz").status_code == 200

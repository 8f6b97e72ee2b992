"""The admin web UI: server-rendered Starlette + Jinja2 + htmx (ARCHITECTURE §6)."""

from web.app import create_app
from web.config import WebConfig

__all__ = ["WebConfig", "create_app"]

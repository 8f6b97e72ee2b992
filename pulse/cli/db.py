"""`pulse db ...`: schema migrations."""

from __future__ import annotations

import argparse
from typing import Any

from storage import migrate
from storage.db import make_engine


def register(commands: Any) -> None:
    db = commands.add_parser("db", help="database schema", description="Manage the schema.")
    sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = sub.add_parser(
        "upgrade", help="apply migrations", description="Apply Alembic migrations up to REVISION."
    )
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=_upgrade)
    down = sub.add_parser(
        "downgrade",
        help="revert migrations",
        description="Revert migrations down to REVISION ('base' drops everything).",
    )
    down.add_argument("revision")
    down.set_defaults(handler=_downgrade)
    current = sub.add_parser(
        "current", help="show the applied revision", description="Show the applied revision."
    )
    current.set_defaults(handler=_current)


def _upgrade(args: argparse.Namespace) -> None:
    engine = make_engine(args.settings.database_url)
    migrate.upgrade(engine, args.revision)
    print(f"database at {migrate.current_revision(engine)} ({engine.url.get_backend_name()})")
    engine.dispose()


def _downgrade(args: argparse.Namespace) -> None:
    engine = make_engine(args.settings.database_url)
    migrate.downgrade(engine, args.revision)
    print(f"database at {migrate.current_revision(engine) or 'base'}")
    engine.dispose()


def _current(args: argparse.Namespace) -> None:
    engine = make_engine(args.settings.database_url)
    print(migrate.current_revision(engine) or "base (no migrations applied)")
    engine.dispose()

"""`pulse tenant ...`, `pulse user ...`, `pulse keys ...`: administration."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from cryptography.fernet import Fernet

from pulse.errors import ConfigurationError
from storage.db import make_engine, session_factory, transaction
from storage.repositories import tenants, users
from storage.schema import ROLES


def register(commands: Any) -> None:
    tenant = commands.add_parser("tenant", help="tenants", description="Manage tenants.")
    tsub = tenant.add_subparsers(dest="tenant_command", metavar="ACTION", required=True)
    create = tsub.add_parser(
        "create",
        help="create a tenant with the default configuration",
        description="Create a tenant with the default workflow, hierarchy and mappings.",
    )
    create.add_argument("name")
    create.add_argument("--slug", help="short identifier (default: from the name)")
    create.set_defaults(handler=_tenant_create)
    listing = tsub.add_parser("list", help="list tenants", description="List tenants.")
    listing.set_defaults(handler=_tenant_list)

    user = commands.add_parser("user", help="users", description="Manage users.")
    usub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    ucreate = usub.add_parser(
        "create",
        help="create a user",
        description="Create a user. The password is prompted for unless --password is given "
        "(or read from standard input when it is not a terminal).",
    )
    ucreate.add_argument("--tenant", required=True, help="tenant slug, name or id")
    ucreate.add_argument("--email", required=True)
    ucreate.add_argument("--role", required=True, choices=ROLES)
    ucreate.add_argument("--name", help="display name")
    ucreate.add_argument("--password", help="avoid on shared machines: shell history keeps it")
    ucreate.set_defaults(handler=_user_create)

    keys = commands.add_parser("keys", help="secrets", description="Generate secrets.")
    ksub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    gen = ksub.add_parser(
        "generate",
        help="print a new ENCRYPTION_KEY",
        description="Print a new Fernet key for ENCRYPTION_KEY.",
    )
    gen.set_defaults(handler=_keys_generate, needs_settings=False)


def _factory(args: argparse.Namespace) -> Any:
    return session_factory(make_engine(args.settings.database_url))


def _tenant_create(args: argparse.Namespace) -> None:
    with transaction(_factory(args)) as session:
        tenant = tenants.create_tenant(session, args.name, slug=args.slug)
        print(f"created tenant {tenant.name!r} (id {tenant.id}, slug {tenant.slug!r})")


def _tenant_list(args: argparse.Namespace) -> None:
    with transaction(_factory(args)) as session:
        for tenant in tenants.list_tenants(session):
            state = "active" if tenant.active else "inactive"
            print(f"{tenant.id}\t{tenant.slug}\t{tenant.name}\t{state}")


def _read_password(args: argparse.Namespace) -> str:
    if args.password:
        return str(args.password)
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise ConfigurationError("the two passwords differ")
    return first


def _user_create(args: argparse.Namespace) -> None:
    password = _read_password(args)
    with transaction(_factory(args)) as session:
        tenant = tenants.find_tenant(session, args.tenant)
        if tenant is None:
            raise ConfigurationError(f"no tenant {args.tenant!r}")
        user = users.create_user(
            session,
            tenant.id,
            email=args.email,
            password=password,
            role=args.role,
            display_name=args.name,
        )
        print(f"created {user.role} {user.email} in tenant {tenant.slug!r} (id {user.id})")


def _keys_generate(_args: argparse.Namespace) -> None:
    print(Fernet.generate_key().decode())

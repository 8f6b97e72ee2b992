"""Password login in steps (`login_candidate`, `password_matches`, `complete_login`), so the web
login holds no database connection while argon2 works: the right password signs in; a wrong
one, an unknown email or a deactivated user does not; and a deactivation or a password change
that lands between the check and the completion wins over the login."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine

import storage.repositories.users as users
from storage.db import session_factory
from storage.repositories.tenants import create_tenant

pytestmark = pytest.mark.integration

EMAIL = "Ada@Example.com"
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


class Account(NamedTuple):
    tenant_id: int
    user_id: int


@pytest.fixture
def account(any_engine: Engine) -> Account:
    with session_factory(any_engine).begin() as db:
        tenant = create_tenant(db, "acme")
        user = users.create_user(db, tenant.id, email=EMAIL, password=PASSWORD, role="user")
        return Account(tenant.id, user.id)


def _deactivate(engine: Engine, account: Account) -> None:
    with session_factory(engine).begin() as db:
        users.set_active(db, *account, False)


def _candidate(engine: Engine, email: str = EMAIL) -> users.LoginCandidate | None:
    with session_factory(engine).begin() as db:
        return users.login_candidate(db, email)


def _complete(engine: Engine, candidate: users.LoginCandidate) -> int | None:
    with session_factory(engine).begin() as db:
        user = users.complete_login(db, candidate, PASSWORD)
        return None if user is None else user.id


def test_the_right_password_signs_in_and_stamps_the_login(
    any_engine: Engine, account: Account
) -> None:
    candidate = _candidate(any_engine, " ada@example.COM ")  # emails compare case-folded
    assert candidate is not None
    assert candidate.user_id == account.user_id
    assert users.password_matches(candidate, PASSWORD)
    assert _complete(any_engine, candidate) == account.user_id
    with session_factory(any_engine)() as db:
        user = users.get_user(db, *account)
        assert user is not None
        assert user.last_login_at is not None
        assert users.password_matches(users.login_candidate(db, EMAIL), PASSWORD)


def test_a_wrong_password_or_an_unknown_email_does_not(
    any_engine: Engine, account: Account
) -> None:
    assert not users.password_matches(_candidate(any_engine), "wrong password")
    assert _candidate(any_engine, "nobody@example.com") is None
    assert not users.password_matches(None, PASSWORD)
    with session_factory(any_engine)() as db:
        assert not users.password_matches(users.login_candidate(db, EMAIL), "wrong password")


def test_a_deactivated_user_is_no_candidate(any_engine: Engine, account: Account) -> None:
    _deactivate(any_engine, account)
    assert _candidate(any_engine) is None


def test_a_deactivation_during_the_check_wins(any_engine: Engine, account: Account) -> None:
    candidate = _candidate(any_engine)
    assert candidate is not None
    assert users.password_matches(candidate, PASSWORD)
    _deactivate(any_engine, account)
    assert _complete(any_engine, candidate) is None


def test_a_password_change_during_the_check_wins(any_engine: Engine, account: Account) -> None:
    candidate = _candidate(any_engine)
    assert candidate is not None
    assert users.password_matches(candidate, PASSWORD)
    with session_factory(any_engine).begin() as db:
        user = users.get_user(db, *account)
        assert user is not None
        user.password_hash = users.hash_password("another long password")
    assert _complete(any_engine, candidate) is None

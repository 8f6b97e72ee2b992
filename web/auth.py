"""Who is asking: the session cookie (a short-lived JWT naming a server-side session row) or a
bearer API token, resolved to a `Principal` that carries the tenant.

The JWT only says which session row to read; the row and the user are read on every request,
so revocation, deactivation and role changes apply at once. The tenant always comes from that
row, never from anything the request says.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection
from starlette.responses import Response

from storage.repositories import sessions
from web.config import WebConfig

SESSION_COOKIE = "pulse_session"
LOGIN_COOKIE = "pulse_login"  # pre-session CSRF binding for the login form
ROLE_RANK = {"viewer": 0, "user": 1, "admin": 2}
_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    tenant_id: int
    tenant_name: str
    email: str
    display_name: str | None
    role: str
    session_id: str | None  # None for an API token
    session_cap: datetime | None = None  # the session's absolute end

    def allows(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    @property
    def name(self) -> str:
        return self.display_name or self.email


@dataclass(frozen=True, slots=True)
class Claims:
    session_id: str
    issued_at: datetime


class SessionCodec:
    """Signs and reads session JWTs and derives the CSRF tokens bound to a session."""

    def __init__(self, secret: str, config: WebConfig) -> None:
        self._secret = secret
        self._csrf_key = hmac.new(secret.encode(), b"pulse-web-csrf", hashlib.sha256).digest()
        self._config = config

    def issue(self, session_id: str, user_id: int, tenant_id: int, now: datetime) -> str:
        payload = {
            "sid": session_id,
            "sub": str(user_id),
            "tid": tenant_id,
            "iat": int(now.timestamp()),
            "exp": int((now + self._config.session_idle).timestamp()),
        }
        return jwt.encode(payload, self._secret, algorithm=_ALGORITHM)

    def read(self, token: str | None, *, verify_exp: bool = True) -> Claims | None:
        """The claims of a well-signed token (and unexpired, unless told otherwise)."""
        if not token:
            return None
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                options={"verify_exp": verify_exp, "require": ["sid", "iat", "exp"]},
            )
        except jwt.PyJWTError:
            return None
        sid = payload.get("sid")
        if not isinstance(sid, str):
            return None
        return Claims(sid, datetime.fromtimestamp(int(payload["iat"]), UTC))

    def csrf_token(self, binding: str) -> str:
        return hmac.new(self._csrf_key, binding.encode(), hashlib.sha256).hexdigest()

    def csrf_valid(self, binding: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(binding), token or "")

    def set_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(self._config.session_idle.total_seconds()),
            httponly=True,
            secure=self._config.cookie_secure,
            samesite="lax",
            path="/",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE,
            path="/",
            httponly=True,
            secure=self._config.cookie_secure,
            samesite="lax",
        )


def session_principal(
    db: Session, codec: SessionCodec, conn: HTTPConnection, now: datetime, config: WebConfig
) -> tuple[Principal, Claims] | None:
    """The principal of the request's session cookie, if the session is live."""
    claims = codec.read(conn.cookies.get(SESSION_COOKIE))
    if claims is None:
        return None
    live = sessions.load_live_session(db, claims.session_id, now=now)
    if live is None:
        return None
    return (
        Principal(
            user_id=live.user_id,
            tenant_id=live.tenant_id,
            tenant_name=live.tenant_name,
            email=live.email,
            display_name=live.display_name,
            role=live.role,
            session_id=live.session_id,
            session_cap=live.created_at + config.session_max,
        ),
        claims,
    )


def token_principal(db: Session, conn: HTTPConnection, now: datetime) -> Principal | None:
    """The principal of an `Authorization: Bearer` API token. The token acts with the lower of
    its own role and its user's current role, so demoting a user demotes their tokens."""
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    found = sessions.authenticate_api_token(db, value.strip(), now=now)
    if found is None:
        return None
    role = min(found.token.role, found.user.role, key=ROLE_RANK.__getitem__)
    return Principal(
        user_id=found.user.id,
        tenant_id=found.user.tenant_id,
        tenant_name=found.tenant_name,
        email=found.user.email,
        display_name=found.user.display_name,
        role=role,
        session_id=None,
    )

"""Log in and log out. These are the only routes without a principal: the login form is
protected against CSRF by a nonce cookie set when the form is shown (login CSRF), a login
creates the server-side session row the cookie's JWT names, and repeated failures of one
email from one address are refused for a while (`web.login_limit`)."""

from __future__ import annotations

import secrets

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from storage.repositories import sessions, users
from storage.repositories.login_failures import LoginKey
from storage.schema import utcnow
from web.auth import LOGIN_COOKIE, SESSION_COOKIE, session_principal
from web.login_limit import LoginLimit, Throttled
from web.routing import RouteTable
from web.services import WebServices
from web.templating import PageResponse

table = RouteTable()
HOME = "/jobs"


def _safe_next(value: str | None) -> str:
    """Only a path on this site: never `//evil.example` or `https://...` (open redirect)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return HOME


def _redirect(request: Request, target: str) -> Response:
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, 303)


def _login_page(
    web: WebServices,
    request: Request,
    *,
    nonce: str,
    next_url: str,
    email: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    context = {
        "request": request,
        "user": None,
        "csrf_token": web.codec.csrf_token(nonce),
        "next": next_url,
        "email": email,
        "error": error,
        "partial": False,
    }
    response = PageResponse(
        "login.html", context, web.templates.render("login.html", context), status_code=status
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=3600,
        httponly=True,
        secure=web.config.cookie_secure,
        samesite="lax",
        path="/",
    )
    return response


async def login_form(request: Request) -> Response:
    web: WebServices = request.app.state.web
    next_url = _safe_next(request.query_params.get("next"))

    def signed_in() -> bool:
        with web.factory() as db:
            return session_principal(db, web.codec, request, utcnow(), web.config) is not None

    stale = False
    if request.cookies.get(SESSION_COOKIE):
        if await web.in_thread(signed_in) is True:
            return RedirectResponse(next_url, 303)
        stale = True
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = _login_page(web, request, nonce=nonce, next_url=next_url)
    if stale:  # a revoked or expired session's cookie: forget it
        web.codec.clear_cookie(response)
    return response


async def login(request: Request) -> Response:
    web: WebServices = request.app.state.web
    async with request.form(max_files=0, max_fields=10) as submitted:
        form = FormData(submitted.multi_items())
    email = str(form.get("email") or "").strip()
    password = str(form.get("password") or "")
    next_url = _safe_next(str(form.get("next") or ""))
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    if not email or not password:
        return _login_page(
            web,
            request,
            nonce=nonce,
            next_url=next_url,
            email=email,
            error="Enter your email and password.",
            status=422,
        )

    limit = LoginLimit(web.config.login_max_failures, web.config.login_failure_window)
    client = request.client.host if request.client else None
    key = LoginKey.of(email, client)

    # Three steps, so no database connection waits while argon2 works (slow by design).
    def find_candidate() -> users.LoginCandidate | Throttled | None:
        with web.factory() as db, db.begin():
            wait = limit.retry_after(db, key, utcnow())
            return Throttled(wait) if wait is not None else users.login_candidate(db, email)

    def sign_in(candidate: users.LoginCandidate | None, matches: bool) -> str | None:
        """The session's token; None for wrong credentials."""
        with web.factory() as db, db.begin():
            now = utcnow()
            user = users.complete_login(db, candidate, password) if matches and candidate else None
            if user is None:
                limit.failed(db, key, now)
                return None
            limit.succeeded(db, key)
            row = sessions.create_session(
                db,
                user.tenant_id,
                user.id,
                lifetime=web.config.session_idle,
                user_agent=request.headers.get("user-agent"),
                ip_address=client,
            )
            return web.codec.issue(row.id, user.id, user.tenant_id, now)

    found = await web.in_thread(find_candidate)
    token: str | Throttled | None
    if isinstance(found, Throttled):
        token = found
    else:
        matches = await web.check_password(users.password_matches, found, password)
        token = await web.in_thread(sign_in, found, matches)
    if isinstance(token, Throttled):
        response = _login_page(
            web,
            request,
            nonce=nonce,
            next_url=next_url,
            email=email,
            error=token.message,
            status=429,
        )
        response.headers["Retry-After"] = str(token.retry_after)
        return response
    if token is None:
        return _login_page(
            web,
            request,
            nonce=nonce,
            next_url=next_url,
            email=email,
            error="Email or password is wrong, or the account is deactivated.",
            status=422,
        )
    response = _redirect(request, next_url)
    web.codec.set_cookie(response, token)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


async def logout(request: Request) -> Response:
    web: WebServices = request.app.state.web
    claims = web.codec.read(request.cookies.get(SESSION_COOKIE), verify_exp=False)

    def revoke() -> None:
        assert claims is not None
        with web.factory() as db, db.begin():
            sessions.revoke_session(db, claims.session_id)

    if claims is not None:
        await web.in_thread(revoke)
    response = _redirect(request, "/login")
    web.codec.clear_cookie(response)
    return response


async def home(_request: Request) -> Response:
    return RedirectResponse(HOME, 303)


table.routes.extend(
    [
        Route("/", home, methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
)

"""Routes that cannot forget their guard.

Every page and action is declared through a `RouteTable` with the minimum role it needs. The
generated endpoint reads the form (async), then in a worker thread opens one database
transaction, resolves the principal from the session cookie (or, for `/api/`, from a bearer
token), checks the role, runs the handler and commits. The tenant reaches handlers only
through `ctx.tenant_id`, taken from the verified session row. `HTTPException`s are turned into
pages (or JSON for the API) with the right status: 401, 403, 404, 422.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import quote

from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from storage.repositories import sessions
from storage.schema import utcnow
from web.auth import ROLE_RANK, Principal, session_principal, token_principal
from web.forms import Form
from web.htmx import HtmxDetails, trigger
from web.services import WebServices
from web.templating import PageResponse

log = logging.getLogger(__name__)

Handler = Callable[["Ctx"], Response]
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_FORM_FIELDS = 400


@dataclass
class Ctx:
    """One request as a handler sees it: the verified principal, an open transaction, the
    submitted form and rendering helpers."""

    request: Request
    db: Session
    user: Principal
    form: Form
    web: WebServices
    htmx: HtmxDetails
    page_blocks: tuple[str, ...] = ()
    response_headers: dict[str, str] = field(default_factory=dict)
    post_commit: list[Callable[[], None]] = field(default_factory=list)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run once the transaction has committed (e.g. tell a worker about a new run)."""
        self.post_commit.append(callback)

    @property
    def tenant_id(self) -> int:
        return self.user.tenant_id

    def param(self, name: str) -> int:
        value = self.request.path_params[name]
        return int(value)

    def query(self, name: str) -> str:
        return self.request.query_params.get(name, "").strip()

    def query_int(self, name: str) -> int | None:
        value = self.query(name)
        return int(value) if value.isdigit() else None

    @property
    def requested_block(self) -> str | None:
        """The block of the page this GET renders: the one htmx targets if the page has it,
        else `content`; None for the whole page. Handlers skip reads only other parts need."""
        if not self.htmx.partial:
            return None
        target = self.htmx.target
        return target if target in self.page_blocks else "content"

    @property
    def csrf_token(self) -> str:
        return self.web.codec.csrf_token(self.user.session_id or "")

    def render(
        self,
        template: str,
        *,
        block: str | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **values: Any,
    ) -> PageResponse:
        """The page, or one of its blocks: `block` when the handler names one (an action's
        fragment), else the block htmx targets if the page allows it, else `content`, else
        (not an htmx request) the whole page."""
        _check_status(status)
        if block is None:
            block = self.requested_block
        context = {
            "request": self.request,
            "user": self.user,
            "csrf_token": self.csrf_token,
            "partial": block is not None,
            "errors": {},
            **values,
        }
        content = self.web.templates.render(template, context, block=block)
        merged = {**self.response_headers, **(headers or {})}
        return PageResponse(
            template, context, content, block=block, status_code=status, headers=merged
        )

    def fragment(
        self,
        template: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **values: Any,
    ) -> PageResponse:
        """A template that is itself a fragment (a card, a table row, a modal), whole."""
        _check_status(status)
        context = {
            "request": self.request,
            "user": self.user,
            "csrf_token": self.csrf_token,
            "partial": True,
            "errors": {},
            **values,
        }
        content = self.web.templates.render(template, context)
        merged = {**self.response_headers, **(headers or {})}
        return PageResponse(template, context, content, status_code=status, headers=merged)

    def not_found(self, what: str = "This item") -> NoReturn:
        raise HTTPException(404, f"{what} does not exist.")

    def refuse(self, message: str, status: int = 409) -> NoReturn:
        raise HTTPException(status, message)


def _check_status(status: object) -> None:
    """`status`, `block` and `headers` are `render`'s own arguments, so a template value of
    one of those names would silently land there; make that mistake loud."""
    if not isinstance(status, int):
        raise TypeError(f"status must be an HTTP status code, got {status!r}: rename the value")


@dataclass(frozen=True, slots=True)
class Guard:
    """What an endpoint requires; the isolation sweep reads it from `route.endpoint`."""

    role: str
    api: bool
    blocks: tuple[str, ...]


class RouteTable:
    """Collects one module's routes; `app.py` mounts every table."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        path: str,
        handler: Handler,
        *,
        methods: tuple[str, ...],
        role: str,
        blocks: tuple[str, ...] = (),
        api: bool = False,
        name: str | None = None,
    ) -> None:
        if role not in ROLE_RANK:
            raise ValueError(f"unknown role {role!r} for {path}")
        guard = Guard(role, api, blocks)
        self.routes.append(
            Route(
                path,
                _endpoint(handler, guard),
                methods=list(methods),
                name=name or handler.__name__,
            )
        )

    def get(
        self, path: str, *, role: str, blocks: tuple[str, ...] = (), api: bool = False
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(path, handler, methods=("GET",), role=role, blocks=blocks, api=api)
            return handler

        return register

    def post(self, path: str, *, role: str, api: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(path, handler, methods=("POST",), role=role, api=api)
            return handler

        return register


def _endpoint(handler: Handler, guard: Guard) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        data = FormData()
        if request.method in UNSAFE and not guard.api:
            async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as submitted:
                data = FormData(submitted.multi_items())
        web: WebServices = request.app.state.web
        return await web.in_thread(_dispatch, web, request, data, handler, guard)

    endpoint.guard = guard  # type: ignore[attr-defined]
    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def _dispatch(
    web: WebServices, request: Request, data: FormData, handler: Handler, guard: Guard
) -> Response:
    now = utcnow()
    with web.factory() as db:
        try:
            with db.begin():
                refresh: str | None = None
                stale = False
                if guard.api:
                    principal = token_principal(db, request, now)
                else:
                    found = session_principal(db, web.codec, request, now, web.config)
                    principal = None
                    if found is not None:
                        principal, claims = found
                        stale = now - claims.issued_at >= web.config.refresh_after
                if principal is None:
                    return _unauthenticated(request, guard)
                if not principal.allows(guard.role):
                    raise HTTPException(
                        403, f"Your role ({principal.role}) cannot do this; it needs {guard.role}."
                    )
                ctx = Ctx(
                    request=request,
                    db=db,
                    user=principal,
                    form=Form(data),
                    web=web,
                    htmx=HtmxDetails.of(request),
                    page_blocks=guard.blocks,
                )
                response = handler(ctx)
                if stale:  # written last: a handler may commit elsewhere first (SQLite locks)
                    refresh = _refresh(db, web, principal, now)
        except HTTPException as exc:
            return _error_response(web, request, guard, exc.status_code, exc.detail)
        for callback in ctx.post_commit:
            try:
                callback()
            except Exception as exc:
                log.exception("post-commit step of %s failed", request.url.path)
                trigger(response, showMessage=f"Saved, but a follow-up step failed: {exc}")
        if refresh is not None:
            web.codec.set_cookie(response, refresh)
        return response


def _refresh(db: Session, web: WebServices, principal: Principal, now: Any) -> str:
    """Slide the session on activity: a new JWT and a later expiry on the row."""
    assert principal.session_id is not None
    assert principal.session_cap is not None
    sessions.extend_session(
        db,
        principal.session_id,
        now=now,
        lifetime=web.config.session_idle,
        cap=principal.session_cap,
    )
    return web.codec.issue(principal.session_id, principal.user_id, principal.tenant_id, now)


def _unauthenticated(request: Request, guard: Guard) -> Response:
    if guard.api:
        return JSONResponse(
            {"error": "a valid bearer token is required"},
            401,
            headers={"WWW-Authenticate": 'Bearer realm="pulse"'},
        )
    login = "/login"
    if request.method == "GET" and request.url.path not in ("/", "/login"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login += "?next=" + quote(target, safe="")
    if request.headers.get("hx-request") == "true":
        return Response(
            "Your session has ended; log in again.", 401, headers={"HX-Redirect": login}
        )
    return RedirectResponse(login, 303)


def _error_response(
    web: WebServices, request: Request, guard: Guard, status: int, detail: str
) -> Response:
    if guard.api:
        return JSONResponse({"error": detail}, status)
    if request.headers.get("hx-request") == "true":
        # htmx shows error texts in the toast area (static/app.js).
        return Response(detail, status, media_type="text/plain", headers={"Vary": "HX-Request"})
    content = web.templates.render(
        "error.html", {"request": request, "status": status, "detail": detail, "user": None}
    )
    return PageResponse(
        "error.html", {"status": status, "detail": detail}, content, status_code=status
    )

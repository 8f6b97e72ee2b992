"""API tokens (admin): bearer tokens for `/api/v1`. A new token is shown once, right after it
is made; only its hash is stored. A token acts with the lower of its role and its owner's."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pulse.errors import ConfigurationError
from storage.repositories import sessions, users
from storage.schema import ROLES
from web.htmx import trigger
from web.routing import Ctx, RouteTable

table = RouteTable()
ROLE_CHOICES = [(r, r) for r in ROLES]


def _context(ctx: Ctx) -> dict[str, Any]:
    owners = {u.id: u.email for u in users.list_users(ctx.db, ctx.tenant_id)}
    return {
        "rows": sessions.list_api_tokens(ctx.db, ctx.tenant_id),
        "owners": owners,
        "roles": ROLE_CHOICES,
    }


@table.get("/api-tokens", role="admin", blocks=("token_table",))
def tokens_page(ctx: Ctx) -> Response:
    return ctx.render("api_tokens.html", created=None, new={}, **_context(ctx))


@table.post("/api-tokens", role="admin")
def token_create(ctx: Ctx) -> Response:
    form = ctx.form
    name = form.text("name", max_length=200)
    role = form.choice("role", ROLES)
    created = None
    if form.ok:
        try:
            token, clear = sessions.create_api_token(
                ctx.db, ctx.tenant_id, ctx.user.user_id, name=name, role=role
            )
        except ConfigurationError as exc:
            form.fail("name", exc.message)
        else:
            created = {"name": token.name, "role": token.role, "token": clear}
    response = ctx.render(
        "api_tokens.html",
        block="create_form",
        created=created,
        new={} if created else form.values(),
        errors=form.errors,
        status=200 if form.ok else 422,
        **_context(ctx),
    )
    return trigger(response, tokensChanged=True) if created else response


@table.post("/api-tokens/{token_id:int}/revoke", role="admin")
def token_revoke(ctx: Ctx) -> Response:
    token = sessions.revoke_api_token(ctx.db, ctx.tenant_id, ctx.param("token_id"))
    if token is None:
        ctx.not_found("This API token")
    response = ctx.render("api_tokens.html", block="token_table", **_context(ctx))
    return trigger(response, showMessage=f"Token {token.name!r} revoked.")

"""Users (admin): create, change role, deactivate and reactivate. A role change or a
deactivation ends the user's sessions at once; an admin cannot lock themselves out."""

from __future__ import annotations

from starlette.responses import Response

from pulse.errors import ConfigurationError
from storage.repositories import sessions, users
from storage.schema import ROLES, User
from web.htmx import trigger
from web.routing import Ctx, RouteTable

table = RouteTable()
ROLE_CHOICES = [(r, r) for r in ROLES]


def _get(ctx: Ctx) -> User:
    found = users.get_user(ctx.db, ctx.tenant_id, ctx.param("user_id"))
    if found is None:
        ctx.not_found("This user")
    return found


@table.get("/users", role="admin", blocks=("user_table",))
def users_page(ctx: Ctx) -> Response:
    rows = users.list_users(ctx.db, ctx.tenant_id)
    return ctx.render("users.html", rows=rows, roles=ROLE_CHOICES, new={})


@table.post("/users", role="admin")
def user_create(ctx: Ctx) -> Response:
    form = ctx.form
    email = form.text("email", max_length=320)
    display_name = form.text("display_name", required=False, max_length=200)
    password = form.raw("password")
    role = form.choice("role", ROLES)
    for field, message in users.validate_new_user(email, password, role):
        form.errors.setdefault(field, message)
    if form.ok:
        try:
            created = users.create_user(
                ctx.db,
                ctx.tenant_id,
                email=email,
                password=password,
                role=role,
                display_name=display_name or None,
            )
        except ConfigurationError as exc:
            form.fail("email", exc.message)
        else:
            return trigger(
                Response(status_code=204),
                usersChanged=True,
                showMessage=f"User {created.email} created with role {role}.",
            )
    values = {k: v for k, v in form.values().items() if k != "password"}
    return ctx.render(
        "users.html",
        block="create_form",
        new=values,
        roles=ROLE_CHOICES,
        errors=form.errors,
        status=422,
    )


def _row(ctx: Ctx, user: User, message: str) -> Response:
    response = ctx.fragment("_user_row.html", row=user, roles=ROLE_CHOICES)
    return trigger(response, showMessage=message)


@table.post("/users/{user_id:int}/role", role="admin")
def user_role(ctx: Ctx) -> Response:
    user = _get(ctx)
    role = ctx.form.choice("role", ROLES)
    if not ctx.form.ok:
        ctx.refuse(ctx.form.errors["role"], 422)
    if user.id == ctx.user.user_id and role != "admin":
        ctx.refuse("You cannot remove your own admin role; ask another admin.")
    users.set_role(ctx.db, ctx.tenant_id, user.id, role)
    # The role is read on every request anyway; ending the sessions makes the change visible
    # (the user logs in again and sees what the new role allows).
    sessions.revoke_user_sessions(ctx.db, ctx.tenant_id, user.id)
    return _row(ctx, user, f"{user.email} is now {role}.")


@table.post("/users/{user_id:int}/deactivate", role="admin")
def user_deactivate(ctx: Ctx) -> Response:
    user = _get(ctx)
    if user.id == ctx.user.user_id:
        ctx.refuse("You cannot deactivate yourself.")
    users.set_active(ctx.db, ctx.tenant_id, user.id, False)
    ended = sessions.revoke_user_sessions(ctx.db, ctx.tenant_id, user.id)
    return _row(ctx, user, f"{user.email} deactivated; {ended} session(s) ended.")


@table.post("/users/{user_id:int}/activate", role="admin")
def user_activate(ctx: Ctx) -> Response:
    user = _get(ctx)
    users.set_active(ctx.db, ctx.tenant_id, user.id, True)
    return _row(ctx, user, f"{user.email} reactivated.")

"""Integrations: the list, create and edit in a modal (per-provider fields, write-only
credentials), test connection with the result inline, enable and disable (refused while a
run is in flight, with the reason)."""

from __future__ import annotations

from starlette.responses import Response

from pulse.errors import ConfigurationError
from storage.repositories import integrations, jobs
from storage.repositories.job_board import active_run_for_integration
from storage.repositories.tenants import bump_config_version
from storage.schema import PROVIDERS, Integration
from web.connection_test import test_integration
from web.htmx import trigger
from web.integration_forms import FORMS, PROVIDER_LABELS, form_values, read_submission
from web.routing import Ctx, RouteTable

table = RouteTable()
CHANGED = "integrationsChanged"


def _get(ctx: Ctx) -> Integration:
    found = integrations.get_integration(ctx.db, ctx.tenant_id, ctx.param("integration_id"))
    if found is None:
        ctx.not_found("This integration")
    return found


@table.get("/integrations", role="viewer", blocks=("integration_list",))
def integrations_page(ctx: Ctx) -> Response:
    rows = integrations.list_integrations(ctx.db, ctx.tenant_id)
    return ctx.render("integrations.html", rows=rows, labels=PROVIDER_LABELS)


def _modal(
    ctx: Ctx,
    *,
    provider: str,
    values: dict[str, str],
    integration: Integration | None,
    status: int = 200,
) -> Response:
    return ctx.fragment(
        "_integration_modal.html",
        status=status,
        spec=FORMS[provider],
        providers=PROVIDERS,
        labels=PROVIDER_LABELS,
        provider=provider,
        values=values,
        integration=integration,
        errors=ctx.form.errors,
        # Which write-only credentials are stored, never their values.
        stored=bool(integration and integration.credentials_encrypted),
    )


@table.get("/integrations/new", role="admin")
def integration_new(ctx: Ctx) -> Response:
    provider = ctx.query("provider") or "jira"
    if provider not in FORMS:
        ctx.refuse(f"Unknown provider {provider!r}.", 422)
    defaults = {"github": {"base_url": "https://api.github.com"}}.get(provider, {})
    return _modal(ctx, provider=provider, values=defaults, integration=None)


@table.post("/integrations", role="admin")
def integration_create(ctx: Ctx) -> Response:
    provider = ctx.form.choice("provider", PROVIDERS)
    if provider not in FORMS:
        return _modal(ctx, provider="jira", values=ctx.form.values(), integration=None, status=422)
    submission = read_submission(ctx.form, provider, existing_settings=None, has_secrets=False)
    if ctx.form.ok:
        try:
            created = integrations.create_integration(
                ctx.db,
                ctx.tenant_id,
                name=submission.name,
                provider=provider,
                base_url=submission.base_url,
                credentials=submission.credentials,
                settings=submission.settings,
                cipher=ctx.web.cipher,
            )
        except ConfigurationError as exc:
            ctx.form.fail("name", exc.message)
        else:
            if provider != "embedding":
                jobs.ensure_job(ctx.db, ctx.tenant_id, created.id)
            bump_config_version(ctx.db, ctx.tenant_id)
            response = Response(status_code=204)
            return trigger(
                response,
                closeModal=True,
                **{CHANGED: True},
                showMessage=f"Integration {created.name!r} created. Test its connection next.",
            )
    return _modal(ctx, provider=provider, values=ctx.form.values(), integration=None, status=422)


@table.get("/integrations/{integration_id:int}/edit", role="admin")
def integration_edit(ctx: Ctx) -> Response:
    found = _get(ctx)
    values = {"name": found.name, **form_values(found.provider, found.base_url, found.settings)}
    return _modal(ctx, provider=found.provider, values=values, integration=found)


@table.post("/integrations/{integration_id:int}", role="admin")
def integration_update(ctx: Ctx) -> Response:
    found = _get(ctx)
    submission = read_submission(
        ctx.form,
        found.provider,
        existing_settings=found.settings,
        has_secrets=bool(found.credentials_encrypted),
    )
    if ctx.form.ok:
        try:
            integrations.update_integration(
                ctx.db,
                ctx.tenant_id,
                found.id,
                name=submission.name,
                base_url=submission.base_url,
                settings=submission.settings,
                credentials=submission.credentials,
                cipher=ctx.web.cipher,
            )
        except ConfigurationError as exc:
            ctx.form.fail("name", exc.message)
        else:
            return trigger(
                Response(status_code=204),
                closeModal=True,
                **{CHANGED: True},
                showMessage=f"Integration {submission.name!r} saved.",
            )
    return _modal(
        ctx, provider=found.provider, values=ctx.form.values(), integration=found, status=422
    )


@table.post("/integrations/{integration_id:int}/test", role="admin")
def integration_test(ctx: Ctx) -> Response:
    found = _get(ctx)
    check = test_integration(found, ctx.web.cipher)
    return ctx.fragment("_connection_check.html", check=check, integration=found)


def _toggle(ctx: Ctx, enable: bool) -> Response:
    found = _get(ctx)
    active = active_run_for_integration(ctx.db, ctx.tenant_id, found.id)
    verb = "enable" if enable else "disable"
    if active is not None:
        ctx.refuse(
            f"Cannot {verb} {found.name!r} while run {active.id} is {active.state}; "
            "cancel it or wait for it to finish."
        )
    if enable:
        integrations.enable_integration(ctx.db, ctx.tenant_id, found.id)
    else:
        integrations.disable_integration(ctx.db, ctx.tenant_id, found.id)
    response = ctx.fragment("_integration_row.html", row=found, labels=PROVIDER_LABELS)
    return trigger(response, showMessage=f"{found.name} {verb}d.")


@table.post("/integrations/{integration_id:int}/enable", role="admin")
def integration_enable(ctx: Ctx) -> Response:
    return _toggle(ctx, True)


@table.post("/integrations/{integration_id:int}/disable", role="admin")
def integration_disable(ctx: Ctx) -> Response:
    return _toggle(ctx, False)

"""The integration form per provider: which fields it has, which of them are secrets, and how a
submission becomes (base URL, settings, credentials) — validated by the connectors' own
settings models, so the UI accepts exactly what a run will accept.

Secrets are write-only: the form never shows them, and a blank secret field on edit keeps the
stored value. Settings the form does not manage (set from the CLI, say) survive an edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from connectors.github.settings import GitHubSettings
from connectors.jira.settings import JiraSettings
from dataflows.vectorize.embedders import EmbeddingSettings
from web.forms import Form

PROVIDER_LABELS = {"jira": "Jira", "github": "GitHub", "embedding": "Embedding endpoint"}


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text | password | number | lines | checkbox | select | date
    help: str = ""
    choices: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True, slots=True)
class ProviderForm:
    provider: str
    base_url_label: str
    base_url_help: str
    base_url_required: bool
    credentials: tuple[Field, ...]  # all write-only
    settings: tuple[Field, ...]
    model: type[BaseModel]
    url_key: str | None  # the settings model's name for the base URL


FORMS = {
    "jira": ProviderForm(
        provider="jira",
        base_url_label="Site URL",
        base_url_help="https://your-site.atlassian.net, or a Server/Data Center base URL",
        base_url_required=True,
        credentials=(
            Field("email", "Account e-mail", help="Server/Data Center: the user name"),
            Field("api_token", "API token", "password", "Server/Data Center: the password"),
        ),
        settings=(
            Field(
                "projects",
                "Projects",
                "lines",
                "Project keys, one per line or comma-separated",
                required=True,
            ),
            Field(
                "extra_jql", "Extra JQL", help="ANDed with the project list, e.g. labels = team-a"
            ),
            Field("deployment", "Deployment", "select", choices=("cloud", "server")),
            Field("page_size", "Page size", "number", "Issues per request (1-100)"),
            Field(
                "start_date", "Backfill from", "date", "Only issues updated on or after this day"
            ),
            Field(
                "development_links",
                "Fetch linked pull requests",
                "checkbox",
                "One extra request per linked issue",
            ),
        ),
        model=JiraSettings,
        url_key="url",
    ),
    "github": ProviderForm(
        provider="github",
        base_url_label="API URL",
        base_url_help="https://api.github.com, or https://HOST/api for GitHub Enterprise Server",
        base_url_required=False,
        credentials=(Field("token", "Token", "password", "Personal access token or app token"),),
        settings=(
            Field("organization", "Organization", help="The organization login", required=True),
            Field(
                "repository_patterns",
                "Repository patterns",
                "lines",
                "fnmatch patterns like api-*; empty: every repository",
            ),
            Field("page_size", "Page size", "number", "Pull requests per request (1-100)"),
            Field(
                "nested_page_size",
                "Nested page size",
                "number",
                "Commits, reviews, comments per request (1-100)",
            ),
        ),
        model=GitHubSettings,
        url_key="api_url",
    ),
    "embedding": ProviderForm(
        provider="embedding",
        base_url_label="Endpoint base URL",
        base_url_help="An OpenAI-compatible API, e.g. https://api.openai.com/v1",
        base_url_required=True,
        credentials=(Field("api_key", "API key", "password"),),
        settings=(
            Field("model", "Model", required=True),
            Field("dimension", "Vector dimension", "number", required=True),
            Field("batch_size", "Texts per request", "number"),
        ),
        model=EmbeddingSettings,
        url_key=None,
    ),
}


@dataclass(frozen=True, slots=True)
class Submission:
    name: str
    provider: str
    base_url: str | None
    settings: dict[str, Any]
    credentials: dict[str, str]


def form_values(provider: str, base_url: str | None, settings: dict[str, Any]) -> dict[str, str]:
    """What the edit form shows: the stored settings as text (never a credential)."""
    spec = FORMS[provider]
    values = {"base_url": base_url or ""}
    for item in spec.settings:
        value = settings.get(item.name)
        if value is None:
            values[item.name] = ""
        elif item.kind == "lines":
            values[item.name] = "\n".join(str(v) for v in value)
        elif item.kind == "checkbox":
            values[item.name] = "on" if value else ""
        else:
            values[item.name] = str(value)
    return values


def read_submission(
    form: Form, provider: str, *, existing_settings: dict[str, Any] | None, has_secrets: bool
) -> Submission:
    """Validate the form for `provider`; problems land in `form.errors` by field name."""
    spec = FORMS[provider]
    name = form.text("name", max_length=200)
    base_url = form.text("base_url", required=spec.base_url_required, max_length=500) or None
    settings: dict[str, Any] = dict(existing_settings or {})
    for item in spec.settings:
        if item.kind == "lines":
            values = form.lines(item.name)
            if values or item.required:
                settings[item.name] = values
            else:
                settings.pop(item.name, None)
        elif item.kind == "checkbox":
            settings[item.name] = form.flag(item.name)
        elif item.kind == "number":
            number = form.optional_int(item.name, minimum=1)
            if number is not None:
                settings[item.name] = number
            elif item.required and item.name not in form.errors:
                form.errors[item.name] = "this field is required"
            else:
                settings.pop(item.name, None)
        else:
            text = form.text(item.name, required=item.required, max_length=2000)
            if text:
                settings[item.name] = text
            else:
                settings.pop(item.name, None)
    credentials: dict[str, str] = {}
    for item in spec.credentials:
        value = form.raw(item.name)
        if value:
            credentials[item.name] = value
        elif not has_secrets:  # a new integration needs every credential
            form.errors[item.name] = "this field is required"
    settings = _validate(form, spec, base_url, settings)
    return Submission(name, provider, base_url, settings, credentials)


def _validate(
    form: Form, spec: ProviderForm, base_url: str | None, settings: dict[str, Any]
) -> dict[str, Any]:
    """Check the settings with the connector's model; return them as the model normalises
    them (project keys upper-cased, say), so what is stored is what a run will use."""
    data = dict(settings)
    if spec.url_key is not None and base_url:
        data[spec.url_key] = base_url
    try:
        model = spec.model(**data)
    except ValidationError as exc:
        for error in exc.errors():
            where = str(error["loc"][0]) if error["loc"] else "__all__"
            field = "base_url" if where == spec.url_key else where
            known = {f.name for f in spec.settings} | {"base_url"}
            message = str(error["msg"]).removeprefix("Value error, ")
            form.errors.setdefault(field if field in known else "__all__", message)
        return settings
    normalised = model.model_dump(mode="json")
    return {key: normalised.get(key, value) for key, value in settings.items()}

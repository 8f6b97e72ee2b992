"""Reading form fields with per-field error messages (shown next to each input, status 422)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.datastructures import FormData


@dataclass
class Form:
    """A submitted form; each reader records an error for its field instead of raising, so a
    form reports every problem at once."""

    data: FormData
    errors: dict[str, str] = field(default_factory=dict)

    def raw(self, name: str) -> str:
        value = self.data.get(name)
        return value.strip() if isinstance(value, str) else ""

    def values(self) -> dict[str, str]:
        """The submitted text values, to re-fill a form (secret fields are never re-filled)."""
        return {k: v for k, v in self.data.items() if isinstance(v, str)}

    def text(self, name: str, *, required: bool = True, max_length: int = 500) -> str:
        value = self.raw(name)
        if required and not value:
            self.errors[name] = "this field is required"
        elif len(value) > max_length:
            self.errors[name] = f"use at most {max_length} characters"
        return value

    def optional_int(self, name: str, *, minimum: int | None = None) -> int | None:
        value = self.raw(name)
        if not value:
            return None
        try:
            number = int(value)
        except ValueError:
            self.errors[name] = "enter a whole number"
            return None
        if minimum is not None and number < minimum:
            self.errors[name] = f"enter a number of at least {minimum}"
            return None
        return number

    def integer(self, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.optional_int(name, minimum=minimum)
        if value is None:
            self.errors.setdefault(name, "this field is required")
            return 0
        if maximum is not None and value > maximum:
            self.errors[name] = f"enter a number of at most {maximum}"
        return value

    def choice(self, name: str, options: Iterable[str], *, required: bool = True) -> str:
        value = self.raw(name)
        allowed = list(options)
        if not value and not required:
            return ""
        if value not in allowed:
            self.errors[name] = f"choose one of: {', '.join(allowed)}"
        return value

    def flag(self, name: str) -> bool:
        return self.raw(name).lower() in ("1", "true", "on", "yes")

    def lines(self, name: str, *, max_items: int = 200) -> list[str]:
        """A list typed one per line or comma-separated (projects, repository patterns)."""
        items = [p.strip() for chunk in self.raw(name).splitlines() for p in chunk.split(",")]
        found = [p for p in items if p]
        if len(found) > max_items:
            self.errors[name] = f"enter at most {max_items} values"
        return found

    def fail(self, name: str | None, message: str) -> None:
        self.errors[name or "__all__"] = message

    @property
    def ok(self) -> bool:
        return not self.errors

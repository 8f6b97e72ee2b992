"""What the simulator serves: the seed, the sites and the scale, plus the named scale presets."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

_SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")

# Named scales for `--scale`; explicit `issues=N,prs=M,...` overrides any of these keys.
SCALES: dict[str, dict[str, int]] = {
    "small": {"issues": 300, "prs": 120, "projects": 3, "repos": 6, "histories": 300},
    "medium": {"issues": 20_000, "prs": 3_000, "projects": 5, "repos": 20, "histories": 300},
    "large": {"issues": 200_000, "prs": 30_000, "projects": 8, "repos": 60, "histories": 300},
}
_SCALE_KEYS = {
    "issues": "issues_per_site",
    "prs": "prs_per_site",
    "projects": "projects_per_site",
    "repos": "repos_per_site",
    "histories": "max_histories",
    "latency": "latency_ms",
    "window": "rate_window_seconds",
    "rate": "rate_limit",
}


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Everything that determines the simulated data and its behaviour.

    The data of site S is a pure function of (seed, S, the per-site sizes): adding a site never
    changes another site's payloads. `end` anchors the synthetic history so that payloads do not
    depend on the wall clock; only `touch` uses the current time.
    """

    seed: int = 1
    sites: tuple[str, ...] = ("acme", "globex")
    issues_per_site: int = 300
    projects_per_site: int = 3
    max_histories: int = 300
    repos_per_site: int = 6
    prs_per_site: int = 120
    rate_limit: int | None = None  # requests (GitHub: GraphQL points) per window per credential
    rate_window_seconds: float = 60.0
    # GitHub spends a query's GraphQL `cost` (as GitHub does) rather than one unit per request.
    github_points: bool = True
    latency_ms: float = 0.0
    history_days: int = 730
    end: datetime = datetime(2025, 12, 31, tzinfo=UTC)
    time_zones: Mapping[str, str] = field(default_factory=dict)  # site -> IANA zone override

    def __post_init__(self) -> None:
        sites = (self.sites,) if isinstance(self.sites, str) else tuple(self.sites)
        object.__setattr__(self, "sites", sites)
        if not sites or len(set(sites)) != len(sites):
            raise ValueError(f"sites must be non-empty and distinct, got {sites!r}")
        for site in sites:
            if not _SITE_NAME.match(site):
                raise ValueError(f"site name {site!r} must match {_SITE_NAME.pattern}")
        if self.projects_per_site < 1 or self.projects_per_site > 99:
            raise ValueError("projects_per_site must be between 1 and 99")
        if self.repos_per_site < 1:
            raise ValueError("repos_per_site must be at least 1")
        for name in ("issues_per_site", "prs_per_site", "max_histories"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.max_histories > 5000:
            raise ValueError("max_histories must be at most 5000")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError("rate_limit must be positive or None")
        if self.rate_window_seconds <= 0 or self.history_days < 1:
            raise ValueError("rate_window_seconds and history_days must be positive")
        if self.end.tzinfo is None:
            raise ValueError("end must be an aware datetime")


def parse_scale(scale: str) -> dict[str, Any]:
    """`small`, `medium`, `large`, or `issues=N,prs=M,...` (optionally after a preset name:
    `large,latency=20`). Returns SimulatorConfig keyword arguments."""
    values: dict[str, Any] = {}
    for part in (p.strip() for p in scale.split(",")):
        if not part:
            continue
        if "=" not in part:
            if part not in SCALES:
                raise ValueError(f"unknown scale {part!r}; use one of {sorted(SCALES)} or k=v")
            values.update({_SCALE_KEYS[k]: v for k, v in SCALES[part].items()})
            continue
        key, raw = (s.strip() for s in part.split("=", 1))
        if key not in _SCALE_KEYS:
            raise ValueError(f"unknown scale key {key!r}; use {sorted(_SCALE_KEYS)}")
        try:
            if key in ("latency", "window"):
                values[_SCALE_KEYS[key]] = float(raw)
            elif key == "rate" and raw.lower() in ("none", "0", ""):
                values[_SCALE_KEYS[key]] = None
            else:
                values[_SCALE_KEYS[key]] = int(raw)
        except ValueError:
            raise ValueError(f"scale value {part!r} must be a number") from None
    return values


def config_for(
    scale: str = "small",
    *,
    seed: int = 1,
    sites: Sequence[str] | str = ("acme", "globex"),
    rate_limit: int | None = None,
    **overrides: Any,
) -> SimulatorConfig:
    """A config from a scale string; `sites` may be a comma-separated string."""
    if isinstance(sites, str):
        sites = tuple(s.strip() for s in sites.split(",") if s.strip())
    values = {"rate_limit": rate_limit, **parse_scale(scale), **overrides}
    return replace(SimulatorConfig(seed=seed, sites=tuple(sites)), **values)

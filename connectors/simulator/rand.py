"""Deterministic randomness and timestamp rendering shared by the data generators.

Every generated value is a pure function of (seed, site, kind, index): `mix` hashes integers with
splitmix64, so any single item can be produced in O(1) without generating its neighbours, and the
same seed gives byte-identical payloads in every process (Python's `hash()` is salted, so it is
never used here).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import TypeVar

T = TypeVar("T")

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


def _splitmix(x: int) -> int:
    x = (x + _GOLDEN) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def mix(base: int, *parts: int) -> int:
    """A 64-bit hash of `base` and `parts`; cheap enough to call per item and per field."""
    x = base
    for part in parts:
        x = _splitmix(x ^ _splitmix(part & _MASK))
    return x


def text_seed(*parts: str | int) -> int:
    """A stable 64-bit seed from strings (site names) and integers."""
    raw = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


def rng(base: int, *parts: int) -> random.Random:
    """A private generator for one item, for values that are drawn in sequence."""
    return random.Random(mix(base, *parts))


def pick(items: Sequence[T], h: int) -> T:
    return items[h % len(items)]


def hex_id(h: int, length: int = 24) -> str:
    """A hex identifier (Atlassian account ids, git object ids) derived from a hash."""
    out = ""
    x = h
    while len(out) < length:
        x = _splitmix(x)
        out += f"{x:016x}"
    return out[:length]


def uuid_like(h: int) -> str:
    raw = hex_id(h, 32)
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:32]}"


def jira_time(ms: int, tz: tzinfo) -> str:
    """Jira's timestamp format in the user's zone: `2024-03-01T10:15:30.123+0800`."""
    return JiraClock(tz)(ms)


class JiraClock:
    """Formats Jira timestamps in one zone, fast: zone offsets are looked up once per quarter
    hour (every real zone changes offset on a quarter-hour boundary) and the rest is gmtime."""

    _BUCKET_MS = 15 * MINUTE_MS

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._offsets: dict[int, tuple[int, str]] = {}

    def _offset(self, bucket: int) -> tuple[int, str]:
        found = self._offsets.get(bucket)
        if found is None:
            start = datetime.fromtimestamp(bucket * self._BUCKET_MS // 1000, self.tz)
            delta = start.utcoffset()
            seconds = int(delta.total_seconds()) if delta is not None else 0
            minutes = abs(seconds) // 60
            sign = "+" if seconds >= 0 else "-"
            found = (seconds, f"{sign}{minutes // 60:02d}{minutes % 60:02d}")
            if len(self._offsets) > 500_000:
                self._offsets.clear()
            self._offsets[bucket] = found
        return found

    def __call__(self, ms: int) -> str:
        seconds, suffix = self._offset(ms // self._BUCKET_MS)
        t = time.gmtime(ms // 1000 + seconds)
        return (
            f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:"
            f"{t.tm_sec:02d}.{ms % 1000:03d}{suffix}"
        )


def utc_millis(ms: int) -> str:
    """Agile API style (sprint dates): `2020-06-12T00:38:51.882Z`."""
    return f"{utc_seconds(ms)[:-1]}.{ms % 1000:03d}Z"


def utc_seconds(ms: int) -> str:
    """GitHub style: `2021-02-16T17:15:27Z`."""
    t = time.gmtime(ms // 1000)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:"
        f"{t.tm_sec:02d}Z"
    )


def to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one")
    return int(dt.timestamp() * 1000)

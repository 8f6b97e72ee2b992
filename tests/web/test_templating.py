"""The template filters that format times: what a table cell shows and its tooltip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from markupsafe import Markup

from web.templating import _duration, _timetag


def test_a_time_tag_shows_the_age_and_the_exact_utc_time() -> None:
    value = datetime.now(UTC) - timedelta(hours=3, minutes=5, seconds=30)
    tag = _timetag(value)
    assert isinstance(tag, Markup)
    exact = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert tag == (f'<time datetime="{value.isoformat()}" title="{exact}">3h 05m ago</time>')


def test_a_time_tag_of_another_zone_is_shown_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    value = datetime(2030, 6, 1, 14, 0, 5, tzinfo=plus_two)  # 12:00:05 UTC, in the future
    tag = _timetag(value)
    assert 'datetime="2030-06-01T12:00:05+00:00"' in tag
    assert 'title="2030-06-01 12:00:05 UTC"' in tag
    assert ">in " in tag


def test_a_missing_time_is_a_dash() -> None:
    assert _timetag(None) == "—"


def test_durations_read_at_a_glance() -> None:
    assert [_duration(s) for s in (None, 42, 61, 3_600, 49 * 3_600)] == [
        "—",
        "42s",
        "1m 01s",
        "1h 00m",
        "2d 01h",
    ]

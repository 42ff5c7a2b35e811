"""How the web UI writes figures and times: bytes in binary units, rates per second,
confidences as percentages, and every time in one form (ISO 8601 in UTC, which the
page's script shows in the reader's local time with the UTC value on hover)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from markupsafe import Markup, escape

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(value: Any) -> str:
    """1536 -> '1.5 KiB'; anything not a number -> ''."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    n, unit = float(value), 0
    while abs(n) >= 1024 and unit < len(UNITS) - 1:
        n, unit = n / 1024, unit + 1
    return f"{int(n)} B" if unit == 0 else f"{n:.1f} {UNITS[unit]}"


def rate(value: Any) -> str:
    """Bytes per second, in the units of `size`."""
    text = size(value)
    return f"{text}/s" if text else ""


def count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else ""


def counted(value: Any, noun: str) -> str:
    """A count and its noun, which takes an s unless there is exactly one: 1 sensor,
    2 sensors, 1,204 traffic records."""
    return f"{count(value)} {noun}" if value == 1 else f"{count(value)} {noun}s"


def percent(value: Any) -> str:
    return f"{round(value * 100)} %" if isinstance(value, int | float) and value else ""


def iso(value: Any) -> str:
    """A time as ISO 8601 with its offset, in UTC: a datetime (naive ones are UTC, as
    SQLite gives them back) or a sensor's text ('…Z'); '' for none."""
    if isinstance(value, dt.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    elif isinstance(value, str) and value:
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    else:
        return ""
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def when(value: Any) -> Markup:
    """A <time> element: UTC text that hub.js turns into local time, UTC on hover."""
    text = iso(value)
    if not text:
        return Markup("")
    shown = text.replace("T", " ").replace("Z", " UTC")
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(escape(text), escape(shown))


FILTERS = {"size": size, "rate": rate, "count": count, "counted": counted, "percent": percent, "iso": iso, "when": when}

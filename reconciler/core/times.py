"""Times as the lock writes them (RFC 3339, UTC, seconds) and as people read them
(``oc``'s relative ages: ``5 minutes ago``). Pure: ``now`` is always passed in."""

from __future__ import annotations

import datetime as dt


def parse_time(text: str) -> dt.datetime | None:
    """An RFC 3339 (ISO 8601) time as an aware datetime, UTC when the text names no
    offset; None, not an exception, when ``text`` is not one."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def human_duration(delta: dt.timedelta) -> str:
    """Go's ``units.HumanDuration``, which ``oc`` uses: "About a minute", "19 minutes"."""
    seconds = int(delta.total_seconds())
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(delta.total_seconds() / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(delta.total_seconds() / 3600) // 24 // 365} years"


def ago(text: str | None, now: dt.datetime) -> str:
    """``text`` as ``oc`` shows an age at ``now`` (``5 minutes ago``); ``<unknown>``
    when ``text`` is None, empty or not a time."""
    moment = parse_time(text) if text else None
    if moment is None:
        return "<unknown>"
    return f"{human_duration(now - moment)} ago"


def rfc3339(moment: dt.datetime) -> str:
    """``moment`` as the lock and trigger records write times: UTC, whole seconds, ``Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

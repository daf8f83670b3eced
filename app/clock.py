"""The one source of "now". Services take `now` as an argument; edges call `utcnow()`."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(UTC)


def month_key(moment: datetime, tz: ZoneInfo) -> str:
    """The calendar month `moment` falls in, in the given zone: 'M2026-11'."""
    local = moment.astimezone(tz)
    return f"M{local.year:04d}-{local.month:02d}"


def year_key(moment: datetime, tz: ZoneInfo) -> str:
    return f"Y{moment.astimezone(tz).year:04d}"


ALL_TIME = "ALL"

"""The one source of "now". Services take `now` as an argument; edges call `now()`."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(UTC)


def now() -> datetime:
    """The time for an edge: the app's `LINLI_CLOCK` when one is set (tests), else the real one.

    Tests that walk through a flow in pages set a clock they move by hand, so nothing in
    the suite waits for real time to pass.
    """
    from flask import current_app, has_app_context

    if has_app_context():
        clock = current_app.config.get("LINLI_CLOCK")
        if clock is not None:
            return clock()
    return utcnow()


def month_key(moment: datetime, tz: ZoneInfo) -> str:
    """The calendar month `moment` falls in, in the given zone: 'M2026-11'."""
    local = moment.astimezone(tz)
    return f"M{local.year:04d}-{local.month:02d}"


def year_key(moment: datetime, tz: ZoneInfo) -> str:
    return f"Y{moment.astimezone(tz).year:04d}"


ALL_TIME = "ALL"


def zone_for(community) -> ZoneInfo:
    """The zone a community's times are shown in (its own, else the deployment's)."""
    from flask import current_app

    return ZoneInfo(
        (community.timezone if community is not None else None)
        or current_app.config["LINLI_TIMEZONE"]
    )


def local(moment: datetime, community) -> datetime:
    return moment.astimezone(zone_for(community))

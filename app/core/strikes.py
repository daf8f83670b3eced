"""Strike limits: how many wrong guesses at a short code a subject may make.

Every code a person types is short, so guessable (PRODUCT.md): a 4-digit check-in code, a
volunteer's redemption digits, a password. Each wrong guess is a strike against one or more
subjects — the person guessing, the shop, the activity guessed at — under a `Limit` (so many
strikes in a window). At the limit the subject is paused: nothing it types is tried, right or
wrong, until the pause ends. A limit may instead only alert (`on_reach`), where pausing would
let an attacker shut out honest people (an activity during its event).

Counts live in the database (`strikes`), one row per limit and subject, added to by one
atomic upsert, so all workers count together and parallel guesses cannot pass the limit.
A service that refuses a guess raises its error with `strikes=[(limit, subject), ...]`; the
edge rolls the request's work back, then calls `record_refusal`, and commits that.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite

from app.core import metrics
from app.core.database import rows_changed
from app.core.errors import LinliError, TooManyAttempts
from app.core.extensions import db
from app.models import Strike
from app.models.base import table_of

_table = table_of(Strike)


@dataclass(frozen=True)
class Limit:
    """`strikes` wrong guesses within `window` pause the subject for `pause` (None: until the
    window ends). With `backoff`, each strike past the limit doubles the pause, up to
    `max_pause`. With `on_reach(subject, now)` and no pause, the limit only alerts."""

    name: str
    strikes: int
    window: timedelta
    pause: timedelta | None = None
    backoff: bool = False
    max_pause: timedelta | None = None
    on_reach: Callable[[int | str, datetime], None] | None = None

    def key(self, subject: int | str) -> str:
        return f"{self.name}:{subject}"

    @property
    def pauses(self) -> bool:
        return self.on_reach is None


Pair = tuple[Limit, int | str]


def pause_keys(pairs: Iterable[Pair]) -> list[str]:
    """The rows that say whether these subjects are paused (for `not_paused`)."""
    return [limit.key(subject) for limit, subject in pairs if limit.pauses]


def _live_pauses() -> tuple[sa.ColumnElement[bool], ...]:
    # The strike rows pausing one of the subjects now; parameters `paused_keys`, `now`.
    return (
        Strike.key.in_(sa.bindparam("paused_keys", expanding=True)),
        Strike.locked_until > sa.bindparam("now"),
    )


def not_paused() -> sa.ColumnElement[bool]:
    """SQL that holds while none of the subjects is paused, for a statement that must do
    nothing for a paused subject and so asks in the same round trip. Its parameters:
    `paused_keys` (`pause_keys`, never empty) and `now`."""
    return ~sa.exists().where(*_live_pauses())


def paused_until(pairs: Iterable[Pair], now: datetime) -> datetime | None:
    """The latest moment any of these subjects is paused until, or None."""
    keys = pause_keys(pairs)
    if not keys:
        return None
    return db.session.scalar(_latest_pause(), {"paused_keys": keys, "now": now})


@functools.cache
def _latest_pause() -> sa.Select:
    # Built once: every typed code asks it.
    return sa.select(sa.func.max(Strike.locked_until)).where(*_live_pauses())


def minutes_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds() / 60))


_WRONG_CODES = _l("Too many wrong codes. Try again in %(minutes)s minutes.")


def _paused(until: datetime, now: datetime, field: str | None, message=None) -> TooManyAttempts:
    return TooManyAttempts(message or _WRONG_CODES, field=field, minutes=minutes_until(until, now))


def ensure_open(
    pairs: Iterable[Pair], now: datetime, *, field: str | None = "code", message=None
) -> None:
    """Refuse (TooManyAttempts, with the minutes to wait) while any subject is paused.
    `message` (with %(minutes)s) says what was counted; by default, wrong codes."""
    until = paused_until(list(pairs), now)
    if until is not None:
        raise _paused(until, now, field, message)


def _count(limit: Limit, subject: int | str, now: datetime) -> datetime | None:
    """Add one strike in the subject's current window (a run-out window starts again);
    returns the pause this strike starts (or renews), if any."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    ran_out = _table.c.window_ends_at <= now
    stmt = (
        insert(_table)
        .values(key=limit.key(subject), count=1, window_ends_at=now + limit.window)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "count": sa.case((ran_out, 1), else_=_table.c.count + 1),
                "window_ends_at": sa.case(
                    (ran_out, now + limit.window), else_=_table.c.window_ends_at
                ),
            },
        )
        .returning(_table.c.count, _table.c.window_ends_at)
    )
    count, window_ends_at = db.session.execute(stmt).one()
    if count < limit.strikes:
        return None
    if not limit.pauses:
        if count == limit.strikes and limit.on_reach is not None:  # once per window
            limit.on_reach(subject, now)
        return None
    if limit.pause is None:
        until = window_ends_at
    else:
        pause = limit.pause * (2 ** (count - limit.strikes) if limit.backoff else 1)
        if limit.max_pause is not None:
            pause = min(pause, limit.max_pause)
        until = now + pause
    db.session.execute(
        sa.update(_table).where(_table.c.key == limit.key(subject)).values(locked_until=until)
    )
    metrics.LOCKOUTS.labels(limit.name).inc()
    return until


def record(pairs: Iterable[Pair], now: datetime) -> datetime | None:
    """Count one wrong guess against each subject; returns the pause it started, if any
    (the latest, when it starts several)."""
    pauses = [until for limit, subject in pairs if (until := _count(limit, subject, now))]
    return max(pauses, default=None)


def record_refusal(exc: LinliError, now: datetime) -> LinliError:
    """After the edge rolled back: keep the strikes a refusal carries. Returns the error to
    show — the refusal itself, or "try again in N minutes" once it started a pause."""
    if not exc.strikes:
        return exc
    until = record(exc.strikes, now)
    return _paused(until, now, exc.field) if until is not None else exc


def purge(now: datetime) -> int:
    """Forget windows and pauses that have run out; returns how many went."""
    return rows_changed(
        sa.delete(Strike).where(
            Strike.window_ends_at <= now,
            sa.or_(Strike.locked_until.is_(None), Strike.locked_until <= now),
        )
    )

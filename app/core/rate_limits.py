"""Rate-limit counters in the database, for Flask-Limiter when there is no Redis.

Flask-Limiter counts in a storage of the `limits` library; its own choices are memory (one
count per worker process, so four gunicorn workers would allow four times the limit),
Redis, Memcached and MongoDB. A deployment without Redis keeps the counters in its own
database instead: this storage registers the `linli-db://` scheme with `limits` and counts
fixed windows with one atomic upsert per hit, on its own connection (committed at once,
whatever the request then does). With `REDIS_URL` set, Redis is used (app/config.py).

On SQLite the counters live in a database file of their own beside the main one
(`<file>-ratelimits`): SQLite has one write lock per file, and a counter upsert per limited
request must not queue with, or hold up, the ledger's writers (a redemption waited behind
three of them). Limits on the app or a blueprint are still checked first thing, before the
request's own unit of work begins.
"""

from __future__ import annotations

import sqlalchemy as sa
from limits.storage import Storage
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from app.core import clock
from app.core.database import mark_read_only, reset_read_only
from app.core.extensions import db
from app.models import RateLimitCounter
from app.models.base import table_of

SCHEME = "linli-db"
_table = table_of(RateLimitCounter)
_side_engines: dict[str, sa.Engine] = {}


def counters_engine() -> sa.Engine:
    """Where the counters are written: the main database, or on SQLite a file of its own."""
    main = db.engine
    path = main.url.database if main.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        return main
    engine = _side_engines.get(path)
    if engine is None:
        engine = sa.create_engine(f"sqlite:///{path}-ratelimits")
        _table.create(engine, checkfirst=True)
        _side_engines[path] = engine
    return engine


def _app_seconds() -> float:
    return clock.now().timestamp()


class DatabaseStorage(Storage):
    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        # Windows are measured on the app's clock (real time in production, the test's clock
        # in tests), in seconds as `limits` counts them. Redis keeps its own time (TTLs).
        self.clock = _app_seconds

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def _write(self, statement) -> int:
        """Run a write on a connection of its own, committed at once; the count it returns
        (RETURNING) or else the rows it touched. On SQLite it takes the write lock at BEGIN
        (app.database), so it waits its turn instead of failing."""
        token = mark_read_only(False)
        try:
            with counters_engine().begin() as connection:
                result = connection.execute(statement)
                return result.scalar_one() if result.returns_rows else result.rowcount
        finally:
            reset_read_only(token)

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Add `amount` to the key's window; a window that has run out starts again."""
        now = self.clock()
        insert = (
            postgresql.insert if counters_engine().dialect.name == "postgresql" else sqlite.insert
        )
        values = insert(_table).values(key=key, count=amount, expires_at=now + expiry)
        expired = _table.c.expires_at <= now
        stmt = values.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "count": sa.case((expired, amount), else_=_table.c.count + amount),
                "expires_at": sa.case((expired, now + expiry), else_=_table.c.expires_at),
            },
        ).returning(_table.c.count)
        return self._write(stmt)

    def _read(self, statement):
        """One value, read on a connection of its own. Flask-Limiter also reads after the
        view (for the X-RateLimit headers), when the request may hold SQLite's write lock:
        a deferred BEGIN reads the last committed state without waiting for it."""
        token = mark_read_only(True)
        try:
            with counters_engine().connect() as connection:
                return connection.execute(statement).scalar()
        finally:
            reset_read_only(token)

    def get(self, key: str) -> int:
        count = self._read(
            sa.select(_table.c.count).where(_table.c.key == key, _table.c.expires_at > self.clock())
        )
        return count or 0

    def get_expiry(self, key: str) -> float:
        expires_at = self._read(sa.select(_table.c.expires_at).where(_table.c.key == key))
        return expires_at if expires_at is not None else self.clock()

    def check(self) -> bool:
        try:
            self._read(sa.select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        return self._write(sa.delete(_table))

    def clear(self, key: str) -> None:
        self._write(sa.delete(_table).where(_table.c.key == key))

    def purge(self) -> int:
        """Forget windows that have run out (a cron job; counting never needs it)."""
        return self._write(sa.delete(_table).where(_table.c.expires_at <= self.clock()))

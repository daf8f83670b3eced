"""How Linli talks to its database: SQLite pragmas, write locks, the one commit.

SQLite allows one writer at a time. A transaction that starts as a reader and later writes
fails outright (SQLITE_BUSY) when another writer got in between, so every transaction takes
the write lock when it begins (`BEGIN IMMEDIATE`) and waits its turn behind the busy timeout
instead. Requests that only read (GET, HEAD) say so with `read_only()` and begin deferred,
so the many readers of a WAL database never queue behind a writer.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import functools
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from app.core import clock
from app.core.extensions import db

log = logging.getLogger(__name__)

_read_only = contextvars.ContextVar("linli_read_only", default=False)
# How long a SQLite writer waits for the lock before its request answers 503 (and the
# gateway or client retries): well under gunicorn's worker timeout (60 s), and long enough
# for every writer ahead of it, since no request or chunk of long work holds it for more
# than about a second.
BUSY_TIMEOUT_SECONDS = 10


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, _record) -> None:
    if not _is_sqlite(dbapi_connection):
        return
    # Let SQLAlchemy's "begin" event below decide how each transaction starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # SQLite has no time zones: SQL that groups by local month (ledger-check) calls this.
    dbapi_connection.create_function("linli_month_key", 2, month_key_of, deterministic=True)


@functools.lru_cache(maxsize=65536)
def _month_key_of_hour(hour: str, zone: str) -> str | None:
    """The month a whole UTC hour ('2026-11-30 16') falls in, or None when a month begins
    inside it (zones whose offset is not whole hours)."""
    tz = ZoneInfo(zone)
    start = datetime.fromisoformat(hour + ":00:00").replace(tzinfo=UTC)
    first = clock.month_key(start, tz)
    last = clock.month_key(start + timedelta(minutes=59, seconds=59, microseconds=999999), tz)
    return first if first == last else None


def month_key_of(stored: str | None, zone: str) -> str | None:
    """'M2026-11' for a UTC time as SQLite stores it ('2026-11-30 16:05:07.000000'), in
    `zone`: looked up by the hour (a few thousand hours a year), exact inside an hour a
    month begins in."""
    if stored is None:
        return None
    key = _month_key_of_hour(stored[:13], zone)
    if key is not None:
        return key
    return clock.month_key(datetime.fromisoformat(stored).replace(tzinfo=UTC), ZoneInfo(zone))


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    immediate = not _read_only.get()
    if immediate:
        _enter_write_gate(connection)
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
    except BaseException:
        _leave_write_gate(connection.connection.info)
        raise
    connection.info["write_locked"] = immediate


# SQLite's own wait for its write lock (the busy timeout) sleeps between tries, longer and
# longer: 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms. A writer that finds the lock taken
# by a request that holds it for 5 ms sleeps through several such requests, and two workers
# of a busy server spent most of their time asleep (bench/redemption.py --sqlite: p99 half a
# second, 43 redemptions/s). So writers first queue at a gate of their own, an exclusive
# flock on `<database>-writer`, tried every fraction of a millisecond, and pass it on when
# their transaction has ended, not sooner: SQLite's lock is then free when the next one
# asks. It excludes every connection, thread and process alike (a flock belongs to the open
# file, and each transaction opens its own); the kernel lets go of it if a process dies.
# Readers never take it; SQLite's own lock stays the rule (and the busy timeout the wait for
# a writer outside Linli, such as the sqlite3 shell).
GATE_FIRST_WAIT, GATE_LONGEST_WAIT = 0.0002, 0.001  # seconds between tries


def _enter_write_gate(connection) -> None:
    path = connection.engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return  # a memory database has one connection; URIs are not used by Linli
    gate = os.open(f"{path}-writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline, wait = time.monotonic() + BUSY_TIMEOUT_SECONDS, GATE_FIRST_WAIT
    while True:
        try:
            fcntl.flock(gate, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(gate)
                # As SQLite says it when its busy timeout runs out (a 503, app.web).
                raise sa.exc.OperationalError(
                    "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
                ) from None
            time.sleep(wait)
            wait = min(wait * 2, GATE_LONGEST_WAIT)
    connection.connection.info["linli_write_gate"] = gate


def _leave_write_gate(info: dict) -> None:
    gate = info.pop("linli_write_gate", None)
    if gate is not None:
        os.close(gate)  # closing the file lets go of the flock


@event.listens_for(Engine, "commit")
def _sqlite_commit_then_leave_gate(connection) -> None:
    _end_then_leave_gate(connection, "commit")


@event.listens_for(Engine, "rollback")
def _sqlite_roll_back_then_leave_gate(connection) -> None:
    _end_then_leave_gate(connection, "rollback")


def _end_then_leave_gate(connection, end: str) -> None:
    """SQLAlchemy tells of a commit or rollback before it makes it: made here, on the
    driver's connection, so that the gate opens only once SQLite's lock is free (the
    driver's own commit() or rollback() after this one finds no transaction and does
    nothing)."""
    if connection.invalidated or connection.dialect.name != "sqlite":
        return  # an invalidated connection's gate was left by the pool (below)
    info = connection.connection.info
    if "linli_write_gate" in info:
        try:
            getattr(connection.connection.dbapi_connection, end)()
        finally:
            _leave_write_gate(info)


@event.listens_for(Pool, "reset")
def _gate_left_on_reset(_dbapi_connection, record, _reset_state) -> None:
    # However a connection comes back to the pool or is thrown away, its gate is left:
    # a gate held by a connection nobody uses would stop every writer.
    _leave_write_gate(record.info)


@event.listens_for(Pool, "close")
def _gate_left_on_close(_dbapi_connection, record) -> None:
    _leave_write_gate(record.info)


@event.listens_for(Pool, "invalidate")
def _gate_left_on_invalidate(_dbapi_connection, record, _exception) -> None:
    _leave_write_gate(record.info)


def _is_sqlite(dbapi_connection) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")


def mark_read_only(flag: bool) -> contextvars.Token:
    """Declare whether the unit of work in this context will write (see module docstring)."""
    return _read_only.set(flag)


def reset_read_only(token: contextvars.Token) -> None:
    _read_only.reset(token)


@contextlib.contextmanager
def read_only() -> Iterator[None]:
    token = mark_read_only(True)
    try:
        yield
    finally:
        reset_read_only(token)


def holds_write_lock() -> bool:
    """True where the current transaction may write without racing another writer.

    PostgreSQL locks rows as it goes; SQLite must have begun the transaction IMMEDIATE.
    """
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return True
    return bool(connection.info.get("write_locked"))


def rows_changed(statement) -> int:
    """Run an UPDATE or DELETE in the unit of work and say how many rows it changed: a
    conditional update (`WHERE status = 'active'`) tells who won a race."""
    result = db.session.execute(statement)
    return getattr(result, "rowcount", 0) or 0


def add_to_counter(
    table, keys: dict, column: str, delta: int, ceiling: int | None = None, *, new_row=None
) -> bool:
    """Add `delta` to `column` of the row `keys` names (created at `delta`, and with the
    values `new_row` gives, when missing).

    With a ceiling, only if the result stays within it. One atomic upsert, so concurrent
    writers cannot pass the ceiling together; returns whether the amount was added.
    RETURNING tells (rowcount is not reported for upserts by every driver).
    """
    if ceiling is not None and delta > ceiling:
        return False
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    current = table.c[column]
    stmt = (
        insert(table)
        .values(**keys, **(new_row or {}), **{column: delta})
        .on_conflict_do_update(
            index_elements=list(keys),
            set_={column: current + delta},
            where=(current + delta <= ceiling) if ceiling is not None else None,
        )
    )
    return db.session.execute(stmt.returning(current)).first() is not None


def add_to_counters(table, keys: Sequence[str], column: str, rows: Sequence[dict], *returning):
    """Add each row's `column` to the row its `keys` name (created at that value when
    missing): many counters in one multi-row upsert. The rows' keys must be distinct, and
    should come in one order everywhere (sorted), so that two writers lock them in the same
    order. Returns the result (rows of `returning`, when given)."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(list(rows))
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={column: table.c[column] + statement.excluded[column]},
    )
    return db.session.execute(statement.returning(*returning) if returning else statement)


def delete_in_chunks(model, where, *, checkpoint: Callable[[], None], batch: int = 1000) -> int:
    """Delete the rows of `model` that `where` selects, `batch` at a time, each batch ended
    by `checkpoint()` (commit_chunk: no lock held for long on a table of millions); returns
    how many went. Safe to interrupt: what is gone stays gone, the rest goes next time."""
    gone = 0
    while True:
        ids = db.session.scalars(
            sa.select(model.id).where(where).order_by(model.id).limit(batch)
        ).all()
        if not ids:
            return gone
        gone += rows_changed(sa.delete(model).where(model.id.in_(ids)))
        checkpoint()


def insert_unless_taken(model, values: dict):
    """INSERT one row of `model` and return it as an ORM object, or None when a unique key
    of the table is already taken (`ON CONFLICT DO NOTHING … RETURNING`).

    One round trip and no savepoint: a taken key is an answer, not an error that would
    spoil the transaction. On PostgreSQL an insert that meets a key another transaction
    has just written waits for it, and inserts after all if that one rolls back.
    """
    return _inserted(model, values, unless_taken=True)


def insert_row(model, values: dict):
    """INSERT one row of `model` now and return it as an ORM object.

    What `session.add(...)` then `flush()` does, for a row nothing else in the session
    waits on: the unit of work's flush costs several times the statement."""
    return _inserted(model, values, unless_taken=False)


def _inserted(model, values: dict, *, unless_taken: bool):
    # The row is loaded from a Core INSERT … RETURNING (`from_statement`), as a query would
    # load it: persistent, nothing pending. An ORM-enabled insert returning the entity goes
    # through the ORM's bulk machinery and costs twice as much (bench/profile_redemption.py).
    session = db.session
    dialect = session.get_bind().dialect.name
    statement = _insert(dialect, model, tuple(sorted(values)), unless_taken, returning="row")
    return session.scalars(statement, values).first()


def insert_id_unless_taken(model, values: dict) -> int | None:
    """`insert_unless_taken` for a caller that needs only the new row's id. No ORM object
    is made, so none is loaded or flushed: on the API's hot path (the Idempotency-Key's
    record, a redemption code) that is half the cost of the request's writes
    (bench/profile_redemption.py)."""
    dialect = db.session.get_bind().dialect.name
    statement = _insert(dialect, model, tuple(sorted(values)), True, returning="id")
    return db.session.execute(statement, values).scalar()


@functools.cache
def _insert(dialect: str, model, columns: tuple[str, ...], unless_taken: bool, returning: str):
    # Built once for each set of columns, the values bound at execution: building a
    # statement and its cache key costs more than running it from SQLAlchemy's cache.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = model.__table__
    statement = insert(table).values({name: sa.bindparam(name) for name in columns})
    if unless_taken:
        statement = statement.on_conflict_do_nothing()
    if returning == "id":
        return statement.returning(table.c.id)
    return sa.select(model).from_statement(statement.returning(*table.c))


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once the current unit of work has committed (never if it rolls back).

    For work that must not happen unless the data is saved and must not hold the write
    lock, such as sending the sign-in code just queued in the outbox.
    """
    db.session.info.setdefault("linli_after_commit", []).append(callback)


# What the unit of work has written, for `finish_reads`: a flush, or any INSERT, UPDATE or
# DELETE run through the session (Core statements and inserts loaded back included).
@event.listens_for(Session, "after_flush")
def _note_a_flush(session, _context) -> None:
    session.info["linli_wrote"] = True


@event.listens_for(Session, "do_orm_execute")
def _note_a_write(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info["linli_wrote"] = True


def finish_reads() -> None:
    """End the unit of work before slow work that needs no database (decoding an upload),
    so that on SQLite the request does not hold the one write lock meanwhile (a writer takes
    it at its first statement, see above). Does nothing once something was written."""
    session = db.session
    if session.new or session.dirty or session.deleted or session.info.get("linli_wrote"):
        return  # a unit of work is never cut in two: the slow work waits inside it instead
    commit_unit_of_work()


def commit_unit_of_work() -> None:
    """The one place a request, webhook or CLI command commits (services only flush)."""
    db.session.commit()
    db.session.info.pop("linli_wrote", None)
    callbacks = db.session.info.pop("linli_after_commit", [])
    for callback in callbacks:
        # What was committed stands: a failing follow-up is logged, never turned into an
        # error for work that succeeded (the outbox worker retries a message not sent).
        try:
            callback()
        except Exception:
            log.exception("after-commit work failed")
            db.session.rollback()


# SQLite's busy handler sleeps up to 100 ms between its tries at the lock: a long job that
# took the lock again at once after each commit would keep every other writer out.
LOCK_HANDOVER_SECONDS = 0.15


def commit_chunk() -> None:
    """Commit one chunk of long work (an import, a purge), so no write lock is held for
    long. On SQLite, then step aside long enough for a writer waiting for the one lock (a
    text message, a check-in) to take it before the next chunk does."""
    commit_unit_of_work()
    if db.session.get_bind().dialect.name == "sqlite":
        time.sleep(LOCK_HANDOVER_SECONDS)


def rollback_unit_of_work() -> None:
    db.session.rollback()
    db.session.info.pop("linli_wrote", None)
    db.session.info.pop("linli_after_commit", None)

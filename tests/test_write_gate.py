"""SQLite's writers queue at a gate of their own (app/core/database.py): an flock on
`<database>-writer`, held from a write transaction's BEGIN until it has committed or rolled
back, so the next writer is let in as soon as SQLite's lock is free instead of sleeping in
SQLite's busy handler. What must hold: one writer at a time, the gate passed on only after
the commit, never left held (a rollback, a broken connection, a failed BEGIN), readers never
stopped by it, and a writer that waits past the busy timeout answered 503 as before."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading

import pytest
import sqlalchemy as sa

from app.core import database
from app.core.extensions import db
from tests.conftest import DB_KIND

pytestmark = pytest.mark.skipif(DB_KIND != "sqlite", reason="PostgreSQL locks rows")


def _gate_path(app) -> str:
    return app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///") + "-writer"


def _gate_is_free(app) -> bool:
    gate = os.open(_gate_path(app), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(gate, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(gate)


def _gate_files_open(app) -> int:
    fds = "/proc/self/fd"
    return sum(
        1
        for fd in os.listdir(fds)
        if os.path.realpath(os.path.join(fds, fd)) == os.path.realpath(_gate_path(app))
    )


def _write(conn, phone: str) -> None:
    conn.execute(
        sa.text("INSERT INTO sms_opt_outs (phone, opted_out_at) VALUES (:p, '2026-12-01')"),
        {"p": phone},
    )


def test_a_second_writer_waits_at_the_gate_and_passes_once_the_first_commits(committed_app):
    with committed_app.app_context():
        engine = db.engine
        first = engine.connect()
        first.begin()
        _write(first, "+8613900000001")
        assert not _gate_is_free(committed_app)
        entered, finished = threading.Event(), threading.Event()

        def second_writer():
            with engine.connect() as conn, conn.begin():
                entered.set()
                _write(conn, "+8613900000002")
            finished.set()

        thread = threading.Thread(target=second_writer)
        thread.start()
        # It cannot get in while the first holds the gate (however long we look).
        assert not entered.wait(0.3)
        first.commit()
        first.close()
        assert finished.wait(10)
        thread.join()
        with engine.connect() as conn:
            stored = conn.scalar(sa.text("SELECT count(*) FROM sms_opt_outs"))
        assert stored == 2
        assert _gate_is_free(committed_app)


def test_the_gate_is_passed_on_only_when_sqlites_own_lock_is_free(committed_app, monkeypatch):
    leave = database._leave_write_gate
    seen = []

    def leave_and_look(info):
        if "linli_write_gate" in info:
            path = committed_app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # no wait at all: SQLITE_BUSY if still held
                other.execute("ROLLBACK")
                seen.append("free")
            except sqlite3.OperationalError as error:
                seen.append(str(error))
            finally:
                other.close()
        leave(info)

    monkeypatch.setattr(database, "_leave_write_gate", leave_and_look)
    with committed_app.app_context():
        with db.engine.connect() as conn, conn.begin():  # committed
            _write(conn, "+8613900000003")
        with db.engine.connect() as conn:  # rolled back
            conn.begin()
            _write(conn, "+8613900000004")
            conn.rollback()
    assert seen == ["free", "free"]


def test_the_gate_is_never_left_held(committed_app):
    with committed_app.app_context():
        # A transaction that fails half-way is rolled back.
        with pytest.raises(sa.exc.IntegrityError), db.engine.connect() as conn, conn.begin():
            _write(conn, "+8613900000005")
            _write(conn, "+8613900000005")
        assert _gate_is_free(committed_app)
        # A connection broken in the middle of one is thrown away.
        conn = db.engine.connect()
        conn.begin()
        _write(conn, "+8613900000006")
        conn.invalidate()
        conn.rollback()
        conn.close()
        assert _gate_is_free(committed_app)
        # A connection closed with its transaction open goes back to the pool, rolled back.
        conn = db.engine.connect()
        conn.begin()
        _write(conn, "+8613900000007")
        conn.close()
        assert _gate_is_free(committed_app)
        # The session's unit of work, committed and rolled back.
        _write(db.session, "+8613900000008")
        assert not _gate_is_free(committed_app)
        database.commit_unit_of_work()
        assert _gate_is_free(committed_app)
        db.session.execute(sa.text("DELETE FROM sms_opt_outs"))
        database.rollback_unit_of_work()
        assert _gate_is_free(committed_app)
        with db.engine.connect() as conn:
            phones = conn.scalars(sa.text("SELECT phone FROM sms_opt_outs ORDER BY phone")).all()
        assert phones == ["+8613900000008"]


def test_a_failed_begin_leaves_the_gate(committed_app, monkeypatch):
    path = committed_app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    outsider = sqlite3.connect(path, isolation_level=None)  # a writer outside Linli
    outsider.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(database, "BUSY_TIMEOUT_SECONDS", 0.2)
    try:
        with committed_app.app_context():
            conn = db.engine.connect()
            conn.connection.dbapi_connection.execute("PRAGMA busy_timeout=200")
            with pytest.raises(sa.exc.OperationalError, match="database is locked"):
                conn.begin()
            conn.close()
            assert _gate_is_free(committed_app)
    finally:
        outsider.execute("ROLLBACK")
        outsider.close()


def test_past_the_busy_timeout_a_writer_gets_503_and_readers_still_read(committed_app, monkeypatch):
    monkeypatch.setattr(database, "BUSY_TIMEOUT_SECONDS", 0.2)
    held = os.open(_gate_path(committed_app), os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)  # someone else's write transaction, never ending
    try:
        client = committed_app.test_client()
        answer = client.post(
            "/api/v1/me/redemption-code",
            json={},
            headers={"Authorization": "Bearer linli_nobody", "Idempotency-Key": "k-1"},
        )
        assert answer.status_code == 503
        assert answer.headers["Retry-After"]
        assert _gate_files_open(committed_app) == 1  # ours: the writer closed its own
        with committed_app.app_context(), database.read_only():
            assert db.session.scalar(sa.text("SELECT count(*) FROM sms_opt_outs")) == 0
            database.rollback_unit_of_work()
        assert client.get("/boards").status_code == 200  # a reader never queues at it
    finally:
        os.close(held)
    assert _gate_is_free(committed_app)

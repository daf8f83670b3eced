"""Fixtures: one app per test session on a real database, a rolled-back transaction per test.

The suite runs once per database: `LINLI_TEST_DB=sqlite` (the default) or
`LINLI_TEST_DB=postgresql`. PostgreSQL: `TEST_DATABASE_URL` if set (a database the suite
empties), else a database of the suite's own on the local server at 127.0.0.1:5432, named
after this checkout (`linli_test_<hash>`, never one a person would use), created when
missing. The schema is built by the Alembic migrations, as in production. Where
PostgreSQL cannot be reached its pass is skipped with the reason shown, or fails outright
when `LINLI_REQUIRE_POSTGRES=1` (as in CI).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import g
from flask.testing import FlaskClient
from sqlalchemy.orm import scoped_session, sessionmaker

DB_KIND = os.environ.get("LINLI_TEST_DB", "sqlite")
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
# One per checkout: two checkouts' suites (a clean clone in CI beside a working copy) never
# empty each other's database.
OWN_PG_DATABASE = (
    "linli_test_" + hashlib.sha256(str(Path(__file__).resolve()).encode()).hexdigest()[:10]
)
PG_URL = os.environ.get("TEST_DATABASE_URL") or f"{PG_SERVER}/{OWN_PG_DATABASE}"
REQUIRE_PG = os.environ.get("LINLI_REQUIRE_POSTGRES") == "1"
NOW = datetime(2026, 11, 15, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai, mid-month
if os.environ.get("LINLI_TEST_NOW"):  # the whole suite on another day: 2026-12-31T15:55:00+00:00
    NOW = datetime.fromisoformat(os.environ["LINLI_TEST_NOW"]).astimezone(UTC)
# Moments where periods turn over (Shanghai time): tests marked `any_day` run at each of
# them besides NOW, so a month or a year boundary cannot hide a clock read outside the app's
# clock, or a period computed in the wrong zone.
BOUNDARY_DAYS = {
    "first-of-month": datetime(2026, 11, 30, 16, 5, tzinfo=UTC),  # 1 Dec 00:05
    "last-of-month": datetime(2026, 11, 30, 15, 50, tzinfo=UTC),  # 30 Nov 23:50
    "new-years-eve": datetime(2026, 12, 31, 15, 55, tzinfo=UTC),  # 31 Dec 23:55
    "new-year": datetime(2026, 12, 31, 16, 5, tzinfo=UTC),  # 1 Jan 00:05
}
_pg_problem: str | None = None


def _postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can (its own database made first)."""
    try:
        if not os.environ.get("TEST_DATABASE_URL"):
            server = sa.create_engine(
                f"{PG_SERVER}/postgres",
                isolation_level="AUTOCOMMIT",
                connect_args={"connect_timeout": 5},
            )
            with server.connect() as conn:
                exists = "SELECT 1 FROM pg_database WHERE datname = :name"
                if not conn.scalar(sa.text(exists), {"name": OWN_PG_DATABASE}):
                    conn.execute(sa.text(f'CREATE DATABASE "{OWN_PG_DATABASE}"'))
            server.dispose()
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 5})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect is a reason to skip
        return (
            f"PostgreSQL not reachable at {PG_URL} ({exc.__class__.__name__}: "
            f"{str(exc).strip().splitlines()[0]}). Start PostgreSQL on 127.0.0.1:5432 "
            "(trust auth for postgres), or set TEST_DATABASE_URL."
        )
    return None


def pytest_configure(config):
    global _pg_problem
    if DB_KIND not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"LINLI_TEST_DB must be sqlite or postgresql, not {DB_KIND!r}")
    if DB_KIND == "postgresql":
        _pg_problem = _postgres_problem()
        if _pg_problem and REQUIRE_PG:
            raise pytest.UsageError(_pg_problem + " (LINLI_REQUIRE_POSTGRES=1)")


def pytest_unconfigure(config):
    """The suite's own PostgreSQL database goes when its pass ends (clean clones in CI would
    otherwise leave one each behind)."""
    if DB_KIND != "postgresql" or _pg_problem or os.environ.get("TEST_DATABASE_URL"):
        return
    server = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{OWN_PG_DATABASE}" WITH (FORCE)'))
    except sa.exc.SQLAlchemyError:
        pass  # left for the next run, which uses it again
    finally:
        server.dispose()


def pytest_report_header(config):
    return f"database under test: {DB_KIND}" + (f" ({_pg_problem})" if _pg_problem else "")


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("any_day") and "now" in metafunc.fixturenames:
        moments = {"mid-month": NOW, **BOUNDARY_DAYS}
        metafunc.parametrize("now", list(moments.values()), ids=list(moments), indirect=True)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if DB_KIND == "postgresql" and _pg_problem:
            item.add_marker(pytest.mark.skip(reason=_pg_problem))
        elif DB_KIND != "sqlite" and item.get_closest_marker("once"):
            item.add_marker(pytest.mark.skip(reason="runs once per suite, in the SQLite pass"))


def _migrate(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


def _reset_postgres() -> None:
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


def _copy_sqlite(source: str, target: Path) -> None:
    """Copy a SQLite database whole (a WAL-mode file alone may lack its latest pages)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _make_app(url: str, instance: Path):
    from app import create_app

    os.environ["LINLI_INSTANCE_PATH"] = str(instance)
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": (
                {"connect_args": {"timeout": 30, "check_same_thread": False}}
                if url.startswith("sqlite")
                else {"pool_size": 20, "max_overflow": 40}
            ),
            # Many sign-ins from one address; tests/test_rate_limits.py checks the real limit.
            "LOGIN_RATE_LIMIT": "10000 per minute",
            "CODE_RATE_LIMIT": "10000 per minute",
            "API_RATE_LIMIT": "100000 per minute",
            # A test holds the database's write lock in its own session while its requests
            # run, and the database storage writes on a connection of its own; the limits
            # themselves are tested on apps of their own (tests/test_rate_limits.py).
            "RATELIMIT_STORAGE_URI": "memory://",
            "API_REDEEM_RATE_LIMIT": "100000 per minute",
            "SERVER_NAME": None,
        }
    )


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> str:
    """A migrated, empty database: a SQLite file to copy, or the PostgreSQL URL."""
    instance = tmp_path_factory.mktemp("instance")
    if DB_KIND == "postgresql":
        _reset_postgres()
        _migrate(_make_app(PG_URL, instance))
        return PG_URL
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    _migrate(_make_app(f"sqlite:///{path}", instance))
    return str(path)


@pytest.fixture(scope="session")
def app(template_db, tmp_path_factory):
    """The application on the database under test, shared by the whole session."""
    instance = tmp_path_factory.mktemp("app-instance")
    if DB_KIND == "postgresql":
        return _make_app(template_db, instance)
    path = tmp_path_factory.mktemp("db") / "shared.sqlite3"
    _copy_sqlite(template_db, path)
    return _make_app(f"sqlite:///{path}", instance)


@pytest.fixture(autouse=True)
def _limiter_follows_the_shared_app(app):
    """Flask-Limiter is one object, set up by the last app made: a test that makes an app
    of its own (other limits, the database storage) leaves it to the shared app after."""
    yield
    from app.core.extensions import limiter

    limiter.init_app(app)


@pytest.fixture
def db(app) -> Iterator:
    """The database, inside a transaction rolled back after the test.

    Services' flushes and the edges' commits become savepoints of that outer transaction.
    """
    from app.core.extensions import db as _db

    with app.app_context():
        connection = _db.engine.connect()
        outer = connection.begin()
        session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        )
        original = _db.session
        _db.session = session
        try:
            yield _db
        finally:
            session.remove()
            _db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture
def committed_app(app, template_db, tmp_path, app_clock) -> Iterator:
    """An app whose transactions really commit, for tests with threads and real connections.

    SQLite: a fresh copy of the migrated database. PostgreSQL: the shared database, emptied
    afterwards (TRUNCATE does not fire the append-only triggers; DELETE would be refused).
    """
    from app.core.extensions import db as _db

    if DB_KIND == "postgresql":
        # Rows the migrations insert (the default deed catalogue) are put back after the
        # tables are emptied, as every fresh database has them.
        rules = _db.metadata.tables["deed_rules"]
        with app.app_context(), _db.engine.connect() as conn:
            seeded = [dict(row._mapping) for row in conn.execute(sa.select(rules))]
        yield app
        with app.app_context():
            tables = ", ".join(
                t.name for t in _db.metadata.sorted_tables if t.name != "alembic_version"
            )
            _db.session.remove()
            with _db.engine.begin() as conn:
                conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                if seeded:
                    conn.execute(rules.insert(), seeded)
                    conn.execute(
                        sa.text(
                            "SELECT setval(pg_get_serial_sequence('deed_rules', 'id'), "
                            "(SELECT MAX(id) FROM deed_rules))"
                        )
                    )
        return
    path = tmp_path / "committed.sqlite3"
    _copy_sqlite(template_db, path)
    other = _make_app(f"sqlite:///{path}", tmp_path / "instance")
    other.config["LINLI_CLOCK"] = app_clock
    yield other
    with other.app_context():
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def english(db):
    """Messages in English for the test (the default language is Chinese)."""
    from flask_babel import force_locale

    with force_locale("en"):
        yield


SMS_TOKEN = "test-sms-token"


@pytest.fixture
def gateway_token(app):
    """The SMS gateway's auth token, so text messages in tests are signed as Twilio signs."""
    app.config["SMS_AUTH_TOKEN"] = SMS_TOKEN
    yield SMS_TOKEN
    app.config["SMS_AUTH_TOKEN"] = None


@pytest.fixture
def gateway(app):
    """A fake SMS gateway on 127.0.0.1 speaking Twilio's protocol, configured as the app's."""
    from tests.fakes.sms_gateway import FakeSmsGateway

    with FakeSmsGateway() as fake:
        saved = {
            k: app.config[k]
            for k in ("SMS_GATEWAY_URL", "SMS_ACCOUNT_SID", "SMS_AUTH_TOKEN", "SMS_FROM")
        }
        app.config.update(
            SMS_GATEWAY_URL=fake.url,
            SMS_ACCOUNT_SID=fake.account_sid,
            SMS_AUTH_TOKEN=fake.auth_token,
            SMS_FROM="+8610690000",
        )
        app.extensions.pop("linli_sms_sender", None)
        yield fake
        app.config.update(saved)
        app.extensions.pop("linli_sms_sender", None)


@pytest.fixture
def now(request) -> datetime:
    """The test's "now" (NOW, or each boundary moment for tests marked `any_day`)."""
    return getattr(request, "param", NOW)


class FreshGlobalsClient(FlaskClient):
    """A test client whose every request starts with an empty `g`.

    Tests keep one app context open for their builders, and Flask reuses an open app
    context for a request, so `g` (the signed-in user, the chosen language) would leak
    from one request into the next. A real server never shares `g` between requests.
    """

    def open(self, *args, **kwargs):
        # What the test built so far is "committed" (its savepoint released), as it would
        # be before a real request: a request that fails and rolls back undoes only itself.
        from app.core.extensions import db as _db

        _db.session.commit()
        g.__dict__.clear()
        try:
            return super().open(*args, **kwargs)
        finally:
            g.__dict__.clear()


@pytest.fixture
def client(app, db):
    app.test_client_class = FreshGlobalsClient
    return app.test_client()


# --- builders -----------------------------------------------------------------------------

_serial = iter(range(10_000_000))


def next_phone() -> str:
    return f"+86136{next(_serial):08d}"


@pytest.fixture
def make_community(db):
    """make_community(name=None, budget=None) → a community with its issuance account."""
    from app.people import org

    def make(name: str | None = None, budget: int | None = None):
        street = org.get_or_create_street("测试街道")
        return org.create_community(
            name or f"社区{next(_serial)}", street=street, monthly_budget=budget
        )

    return make


@pytest.fixture
def make_volunteer(db, make_community, now):
    """make_volunteer(community=None, name='张明', phone=None, points=0) → a resident."""
    from app.people import people
    from app.points import awards

    def make(community=None, name: str = "张明", phone: str | None = None, points: int = 0):
        community = community or make_community()
        person = people.create_person(
            name=name,
            phone=phone or next_phone(),
            community=community,
            now=now,
            actor=None,
            source="test",
        )
        if points:
            awards.award(
                person,
                points,
                reason="测试",
                idempotency_key=f"seed-{person.id}",
                now=now,
                actor=None,
                source="test",
                notify=False,
            )
        return person

    return make


@pytest.fixture
def make_user(db, make_community, now):
    """make_user(kind='staff', communities=None, password='correct horse') → a sign-in user."""
    from app.people import people

    def make(kind: str = "staff", communities=None, password: str = "correct horse", **kw):
        if kind == "staff" and communities is None:
            communities = [make_community()]
        return people.create_user(
            kind=kind,
            name=kw.pop("name", "李社工"),
            phone=kw.pop("phone", next_phone()),
            password=password,
            communities=communities or [],
            now=now,
            actor=None,
            source="test",
            **kw,
        )

    return make


_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def login(client):
    """login(person_or_login, password='correct horse') signs the test client in."""

    def do(who, password: str = "correct horse"):
        name = who if isinstance(who, str) else who.phone
        page = client.get("/login")
        return client.post(
            "/login",
            data={"login": name, "password": password, "csrf_token": csrf_from(page.text)},
        )

    return do


def run_threads(count: int, work) -> list:
    """Start `count` threads together (a barrier) and collect what each returned or raised."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as exc:  # kept for the assertions
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_server(committed_app):
    """The committed app served over HTTP on a free port in a thread; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", free_port(), committed_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def make_activity(db, make_community, now):
    """make_activity(community=None, starts_in=timedelta(0), hours=2, **fields) → an activity.

    Times are relative to `now`; other keyword arguments are ActivityFields (capacity,
    points, points_rule, needs_approval, signup_required, title, ...).
    """
    from datetime import timedelta

    from app.activities import activities

    def make(community=None, starts_in=timedelta(0), hours: float = 2, **fields):
        community = community or make_community()
        starts_at = now + starts_in
        fields.setdefault("title", "社区清扫")
        fields.setdefault("points", 10)
        return activities.create_activity(
            community,
            activities.ActivityFields(
                starts_at=starts_at, ends_at=starts_at + timedelta(hours=hours), **fields
            ),
            actor=None,
            now=now,
            source="test",
        )

    return make


class Clock:
    """A clock the test moves by hand; the app reads it through `app.clock.now()`."""

    def __init__(self, start: datetime):
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta) -> datetime:
        from datetime import timedelta

        self.current += timedelta(**delta)
        return self.current


@pytest.fixture(autouse=True)
def _street_figures_counted_afresh(app):
    """The front page's figures are kept a minute per worker; each test counts its own."""
    from app.points import reports

    with app.app_context():
        reports.forget_street_figures()
    yield


@pytest.fixture(autouse=True)
def app_clock(app, now):
    """The app's clock, set to `now` for every test and moved with clock.advance(minutes=...).

    No test reads the real clock: a request, a builder and a model default all see `now`.
    """
    fake = Clock(now)
    app.config["LINLI_CLOCK"] = fake
    yield fake
    app.config.pop("LINLI_CLOCK", None)


@pytest.fixture
def make_merchant(db, make_community, now):
    """make_merchant(communities=None, name=None, tier='community', **offer) → (merchant, offer).

    The merchant serves `communities` (a new community when None) and has one offer built
    from the keyword arguments (title, points_cost=30, kind='service', limits ...).
    """
    from app.models import Merchant, MerchantCommunity
    from app.partners import offers
    from app.points import ledger

    def make(communities=None, name: str | None = None, tier: str = "community", **offer):
        communities = communities or [make_community()]
        merchant = Merchant(
            name=name or f"商家{next(_serial)}", tier=tier, category="理发", address="幸福路1号"
        )
        db.session.add(merchant)
        db.session.flush()
        db.session.add_all(
            MerchantCommunity(merchant_id=merchant.id, community_id=c.id) for c in communities
        )
        ledger.merchant_account(merchant)
        offer.setdefault("title", "理发")
        offer.setdefault("kind", "service")
        offer.setdefault("points_cost", 30)
        created = offers.create_offer(
            merchant,
            offers.OfferFields(**offer),
            actor=None,
            by_staff=True,
            now=now,
            source="test",
        )
        db.session.refresh(merchant)
        return merchant, created

    return make


class ApiCaller:
    """Calls API v1 with one person's token; POSTs get a fresh Idempotency-Key unless one is
    given (or key=False: none)."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token

    def _headers(self, key=None) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if key is not False:
            headers["Idempotency-Key"] = key or uuid.uuid4().hex
        return headers

    def get(self, path: str, **query):
        return self.client.get(f"/api/v1{path}", query_string=query, headers=self._headers(False))

    def post(self, path: str, body=None, key=None):
        return self.client.post(
            f"/api/v1{path}", json=body if body is not None else {}, headers=self._headers(key)
        )


@pytest.fixture
def api(client, db, now):
    """api(person) → an ApiCaller with a new token of that person; api(None): no token."""
    from app.people import api_tokens

    def make(person=None) -> ApiCaller:
        if person is None:
            return ApiCaller(client, None)
        _row, token = api_tokens.create(person, name="test", actor=None, now=now)
        return ApiCaller(client, token)

    return make

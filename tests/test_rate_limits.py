"""Rate limits: sign-in attempts per address, API calls per token — counted in storage every
worker process shares (the database here; Redis when REDIS_URL is set)."""

import pytest

from app import create_app
from app.core.extensions import limiter
from app.core.rate_limits import DatabaseStorage
from tests.conftest import csrf_from


@pytest.fixture
def limited(app):
    """make(on=app, **config) → an app on the database of `on` with its real (or the given)
    limits."""

    def make(on=app, **config):
        return create_app(
            {
                "SQLALCHEMY_DATABASE_URI": on.config["SQLALCHEMY_DATABASE_URI"],
                "SQLALCHEMY_ENGINE_OPTIONS": on.config["SQLALCHEMY_ENGINE_OPTIONS"],
                **config,
            }
        )

    return make


def test_password_guessing_is_slowed_down(limited):
    client = limited().test_client()
    token = csrf_from(client.get("/login").text)
    statuses = [
        client.post(
            "/login", data={"login": "nobody", "password": "guess", "csrf_token": token}
        ).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429
    page = client.post("/login", data={"login": "nobody", "password": "x", "csrf_token": token})
    assert "尝试次数过多" in page.text
    # Looking at the page is never limited.
    assert client.get("/login").status_code == 200


def test_one_address_cannot_ask_for_codes_without_end(limited):
    client = limited().test_client()
    token = csrf_from(client.get("/signin").text)
    # Invalid numbers send nothing, but they count: the limit is on asking.
    statuses = [
        client.post("/signin", data={"phone": "12345", "csrf_token": token}).status_code
        for _ in range(6)
    ]
    assert statuses == [200] * 5 + [429]


@pytest.mark.parametrize("storage", ["linli-db://", "redis://127.0.0.1:6379/0"])
def test_api_calls_are_counted_per_token(limited, storage):
    app = limited(API_RATE_LIMIT="3 per minute", RATELIMIT_STORAGE_URI=storage)
    client = app.test_client()
    with app.app_context():
        limiter.reset()
    # The limit is checked before the token is looked up: unknown tokens are counted too.
    mine = {"Authorization": "Bearer linli_not-a-real-token-1"}
    statuses = [client.get("/api/v1/rankings", headers=mine).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    refused = client.get("/api/v1/rankings", headers=mine)
    assert refused.get_json()["error"]["code"] == "too_many_requests"
    assert "Retry-After" in refused.headers
    other = {"Authorization": "Bearer linli_not-a-real-token-2"}
    assert client.get("/api/v1/rankings", headers=other).status_code == 401


@pytest.mark.committing
def test_redemptions_have_a_tighter_limit_of_their_own(committed_app, limited):
    """Counted for every call of the route, known token or not."""
    from datetime import UTC, datetime

    from app.core.database import commit_unit_of_work
    from app.people import api_tokens, people

    with committed_app.app_context():
        person = people.create_person(
            name="王芳",
            phone="+8613700000009",
            community=None,
            now=datetime.now(UTC),
            actor=None,
            source="test",
        )
        token = api_tokens.create(person, name="till", actor=None, now=datetime.now(UTC))[1]
        commit_unit_of_work()
    app = limited(
        on=committed_app, API_RATE_LIMIT="100 per minute", API_REDEEM_RATE_LIMIT="2 per minute"
    )
    client = app.test_client()
    with app.app_context():
        limiter.reset()
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k"}
    statuses = [
        client.post("/api/v1/redemptions", json={}, headers=headers).status_code for _ in range(3)
    ]
    assert statuses == [400, 400, 429]  # an empty body, refused — and counted
    # Other routes count against the general limit only.
    assert client.get("/api/v1/rankings", headers=headers).status_code == 200


def test_the_database_storage_is_one_count_for_every_process(app):
    """Two storages stand for two worker processes: what one counts, the other sees."""
    with app.app_context():
        first, second = DatabaseStorage("linli-db://"), DatabaseStorage("linli-db://")
        clock = [1_000_000.0]
        first.clock = second.clock = lambda: clock[0]
        first.clear("k")
        assert first.incr("k", 60) == 1
        assert second.incr("k", 60) == 2
        assert first.get("k") == 2 and second.get_expiry("k") == 1_000_060.0
        clock[0] += 61  # the window ran out: counting starts again
        assert second.get("k") == 0
        assert first.incr("k", 60) == 1
        assert second.purge() == 0
        clock[0] += 61
        assert second.purge() == 1 and first.get("k") == 0


def test_every_route_of_the_api_counts_against_one_allowance_per_token(limited):
    app = limited(API_RATE_LIMIT="3 per minute")
    client = app.test_client()
    with app.app_context():
        limiter.reset()
    mine = {"Authorization": "Bearer linli_not-a-real-token-3"}
    statuses = [
        client.get(path, headers=mine).status_code
        for path in ("/api/v1/rankings", "/api/v1/offers", "/api/v1/ledger", "/api/v1/people/1")
    ]
    assert statuses == [401, 401, 401, 429]


def test_on_sqlite_counters_do_not_wait_for_the_ledgers_write_lock(limited):
    """A writer holding the main database (a long import, a redemption) does not hold up
    the counters: on SQLite they live in a file of their own."""
    import sqlite3

    from tests.conftest import DB_KIND

    if DB_KIND != "sqlite":
        pytest.skip("PostgreSQL locks rows, not the database")
    app = limited()
    with app.app_context():
        from app.core import rate_limits
        from app.core.extensions import db

        path = db.engine.url.database
        holder = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the main file's one write lock, taken
        try:
            storage = DatabaseStorage()
            assert storage.incr("test:lock", 60) == 1
            assert storage.incr("test:lock", 60) == 2
            assert storage.get("test:lock") == 2
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert rate_limits.counters_engine().url.database == f"{path}-ratelimits"
        storage.clear("test:lock")

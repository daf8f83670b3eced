"""One Idempotency-Key from ten threads at once (real connections, real commits): one award,
ten identical answers — or 409 for a request that found the first still in flight."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app.core.database import commit_unit_of_work
from app.core.extensions import db
from app.models import IdempotencyRecord, LedgerTransaction, Person
from app.people import api_tokens, org, people
from app.points import awards, ledger
from tests.conftest import run_threads

pytestmark = pytest.mark.committing
NOW = datetime(2026, 11, 15, 2, 30, tzinfo=UTC)


def _setup(app) -> tuple[str, int]:
    with app.app_context():
        community = org.create_community("并发社区")
        staff = people.create_user(
            kind="staff",
            name="李社工",
            phone="+8613900000001",
            password="correct horse",
            communities=[community],
            now=NOW,
            actor=None,
            source="test",
        )
        resident = people.create_person(
            name="王芳",
            phone="+8613700000001",
            community=community,
            now=NOW,
            actor=None,
            source="test",
        )
        awards.award(
            resident,
            10,
            reason="测试",
            idempotency_key="seed",
            now=NOW,
            actor=None,
            source="test",
            notify=False,
        )
        _row, token = api_tokens.create(staff, name="test", actor=None, now=NOW)
        commit_unit_of_work()
        return token, resident.id


def test_the_same_key_from_ten_threads_awards_once(committed_app):
    token, person_id = _setup(committed_app)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "same-key-10"}
    body = {"person_id": person_id, "points": 7, "reason": "并发测试"}

    def call(_index):
        # A plain client (the suite's own commits the test's session first, as a test would).
        client = FlaskClient(committed_app, committed_app.response_class)
        response = client.post("/api/v1/awards", json=body, headers=headers)
        return response.status_code, response.get_json()

    results = run_threads(10, call)
    assert not [r for r in results if isinstance(r, Exception)], results
    done = [payload for status, payload in results if status == 201]
    in_flight = [payload for status, payload in results if status == 409]
    assert len(done) + len(in_flight) == 10 and done
    assert all(payload == done[0] for payload in done)
    assert all(p["error"]["code"] == "idempotency_conflict" for p in in_flight)
    with committed_app.app_context():
        awards_made = db.session.scalar(
            sa.select(sa.func.count(LedgerTransaction.id)).where(LedgerTransaction.kind == "award")
        )
        assert awards_made == 2  # the seed and this one
        resident = db.session.get(Person, person_id)
        assert ledger.balance(ledger.wallet_for(resident)) == 17
        assert db.session.scalar(sa.select(sa.func.count(IdempotencyRecord.id))) == 1
        assert ledger.check() == []

"""Activities under real concurrency: threads with their own connections, really committing."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.activities import activities, attendance
from app.core.database import commit_unit_of_work, rollback_unit_of_work
from app.core.extensions import db
from app.models import Activity, Attendance, LedgerTransaction, Person, Signup
from app.people import org, people
from app.points import ledger
from tests.conftest import run_threads

pytestmark = pytest.mark.committing
NOW = datetime(2026, 11, 15, 2, 30, tzinfo=UTC)


def _setup(app, volunteers: int, **fields) -> tuple[int, list[int]]:
    with app.app_context():
        community = org.create_community("并发社区")
        activity = activities.create_activity(
            community,
            activities.ActivityFields(
                title="义诊", starts_at=NOW, ends_at=NOW + timedelta(hours=2), **fields
            ),
            actor=None,
            now=NOW,
            source="test",
        )
        ids = [
            people.create_person(
                name=f"志愿者{i}",
                phone=f"+86137{i:08d}",
                community=community,
                now=NOW,
                actor=None,
                source="test",
            ).id
            for i in range(volunteers)
        ]
        commit_unit_of_work()
        return activity.id, ids


def _unit_of_work(app, work):
    """Run `work()` as one request would: its own session and connection, one commit."""
    with app.app_context():
        try:
            result = work()
            commit_unit_of_work()
            return result
        except Exception:
            rollback_unit_of_work()
            raise
        finally:
            db.session.remove()


def test_concurrent_sign_ups_never_overfill(committed_app):
    activity_id, person_ids = _setup(committed_app, 30, capacity=10)

    def sign_up(index: int):
        def work():
            activity = db.session.get(Activity, activity_id)
            person = db.session.get(Person, person_ids[index])
            return activities.sign_up(activity, person, now=NOW).status

        return _unit_of_work(committed_app, work)

    results = run_threads(30, sign_up)
    assert sorted(results) == ["confirmed"] * 10 + ["waitlisted"] * 20, results
    with committed_app.app_context():
        activity = db.session.get(Activity, activity_id)
        assert activity.confirmed_count == 10
        confirmed = db.session.scalar(
            sa.select(sa.func.count()).select_from(Signup).filter_by(status="confirmed")
        )
        assert confirmed == 10


def test_double_scans_in_parallel_check_in_and_pay_once(committed_app):
    activity_id, (person_id,) = _setup(committed_app, 1, points=12)

    def scan(kind: str, moment: datetime):
        def work():
            activity = db.session.get(Activity, activity_id)
            person = db.session.get(Person, person_id)
            action = attendance.check_in if kind == "in" else attendance.check_out
            return action(activity, person, now=moment).repeated

        return _unit_of_work(committed_app, work)

    ins = run_threads(4, lambda _i: scan("in", NOW))
    assert sorted(ins) == [False, True, True, True], ins
    outs = run_threads(4, lambda _i: scan("out", NOW + timedelta(hours=1)))
    assert sorted(outs) == [False, True, True, True], outs
    with committed_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Attendance)) == 1
        postings = db.session.scalar(
            sa.select(sa.func.count()).select_from(LedgerTransaction).filter_by(kind="attendance")
        )
        assert postings == 1
        person = db.session.get(Person, person_id)
        assert ledger.balance(ledger.wallet_for(person)) == 12
        assert person.verified_minutes == 60
        assert ledger.check() == []

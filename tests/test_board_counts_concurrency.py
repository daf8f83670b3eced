"""The boards' counts under real concurrency (threads, real connections, real commits):
awards to many people at once move them through the same histogram rows, while one of them
keeps opting out of the boards and back, and another moves between communities. Nothing
waits for ever (rows are taken in one order), nothing is refused, and afterwards the counts
are exactly the period totals' (ledger-check)."""

import threading
import time

import pytest

from app.core import clock
from app.core.database import commit_unit_of_work, rollback_unit_of_work
from app.core.extensions import db
from app.models import OrgUnit, Person
from app.people import org, people
from app.points import awards, ledger
from tests.conftest import run_threads

pytestmark = pytest.mark.committing

THREADS = 6
ROUNDS = 8


def _street(app, residents: int) -> tuple[list[int], int, int]:
    """Two communities and `residents` people in the first: (their ids, here, there)."""
    with app.app_context():
        here, there = org.create_community("东社区"), org.create_community("西社区")
        crowd = [
            people.create_person(
                name=f"志愿者{i}",
                phone=f"+86139{i:08d}",
                community=here,
                now=clock.now(),
                actor=None,
                source="test",
            )
            for i in range(residents)
        ]
        commit_unit_of_work()
        return [p.id for p in crowd], here.id, there.id


def _award(person_id: int, points: int, key: str) -> None:
    awards.award(
        db.session.get(Person, person_id),
        points,
        reason="同一场活动",
        idempotency_key=key,
        now=clock.now(),
        actor=None,
        source="test",
        notify=False,
    )


def _opt_out_or_in(person_id: int) -> None:
    person = db.session.get(Person, person_id)
    hide = not person.hide_from_boards
    people.set_preferences(person, hide_from_boards=hide, locale="zh", now=clock.now())


def _move(person_id: int, here_id: int, there_id: int) -> None:
    person = db.session.get(Person, person_id)
    elsewhere = there_id if person.community_id == here_id else here_id
    community = db.session.get(OrgUnit, elsewhere)
    people.update_person(person, community=community, now=clock.now(), actor=None, source="test")


def _committed(app, steps) -> str | Exception:
    """Run each step in a unit of work of its own, committing each: "ok" or what was raised."""
    with app.app_context():
        try:
            for step in steps:
                step()
                commit_unit_of_work()
            return "ok"
        except Exception as exc:  # kept for the assertion
            rollback_unit_of_work()
            return exc
        finally:
            db.session.remove()


def test_awards_opt_outs_and_moves_at_once_keep_the_counts_exact(committed_app):
    ids, here_id, there_id = _street(committed_app, THREADS)

    def step(index: int, round_: int):
        person_id = ids[index]
        if index == 0 and round_ % 2:  # one resident keeps changing their mind
            return lambda: _opt_out_or_in(person_id)
        if index == 1 and round_ % 2:  # another keeps moving between communities
            return lambda: _move(person_id, here_id, there_id)
        # Everyone gets the same points at the same time: the same rows.
        return lambda: _award(person_id, 10, f"race-{index}-{round_}")

    def work(index: int):
        return _committed(committed_app, [step(index, r) for r in range(ROUNDS)])

    assert run_threads(THREADS, work) == ["ok"] * THREADS
    with committed_app.app_context():
        assert ledger.check() == []


@pytest.mark.parametrize("change", ["opt out", "move"])
def test_an_opt_out_or_a_move_waits_for_a_posting_in_flight(committed_app, change):
    """A posting has counted the resident at their new total and not committed yet; the
    resident opts out of the boards (or moves community) meanwhile. The change must wait for
    the posting (the wallet's lock) and then move the new total, not the old one."""
    (person_id,), here_id, there_id = _street(committed_app, 1)
    posted = threading.Event()

    def post_and_linger():
        _award(person_id, 30, "in-flight")
        posted.set()
        time.sleep(0.5)  # the other reaches its change meanwhile

    def change_meanwhile():
        # Only now begin (on SQLite that waits for the posting's write lock).
        posted.wait(10)
        if change == "opt out":
            _opt_out_or_in(person_id)
        else:
            _move(person_id, here_id, there_id)

    def work(index: int):
        return _committed(committed_app, [post_and_linger if index == 0 else change_meanwhile])

    assert run_threads(2, work) == ["ok", "ok"]
    with committed_app.app_context():
        assert ledger.check() == []

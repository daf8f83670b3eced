"""SQL statements per hot request, counted, so they cannot creep back (issue 17).

The ceilings are today's counts: lower one when a change brings a request down, never
raise one to let a change through. Issue 17's target for the shop's redemption is 15."""

import contextlib
from collections import Counter

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.people import org
from tests.test_api_shops import shop  # noqa: F401 (the fixture)


@contextlib.contextmanager
def counting():
    """Every statement any connection runs inside the block, by its first word."""
    seen: Counter[str] = Counter()

    def note(_conn, _cursor, statement, _parameters, _context, _many):
        seen[statement.lstrip().split(None, 1)[0].upper()] += 1

    sa.event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(Engine, "before_cursor_execute", note)


def work(seen: Counter[str]) -> int:
    """The statements a request ran for its own work: not the harness's savepoints (each
    request's unit of work is one, BEGIN … COMMIT in production), whose RELEASE may come in
    the next request's count depending on what the request before left open."""
    return sum(seen.values()) - seen["SAVEPOINT"] - seen["RELEASE"]


def test_a_full_redemption_by_the_api_runs_a_bounded_number_of_statements(
    app,
    db,
    shop,  # noqa: F811
    monkeypatch,
):
    # As in production: no demo outbox delivered inside the request.
    monkeypatch.setitem(app.config, "DEMO_MODE", False)
    db.session.flush()  # the fixtures' own writes are not the request's
    with counting() as issuing:
        digits = shop["phone"].post("/me/redemption-code").get_json()["code"]
    body = {"code": digits, "offer_id": shop["offer"].id, "quantity": 1}
    with counting() as redeeming:
        sale = shop["till"].post("/redemptions", body, key="till-0001")
    assert sale.status_code == 201, sale.text
    assert issuing["SAVEPOINT"] == 1, dict(issuing)  # the unit of work's, no other
    assert work(issuing) <= CODE_CEILING
    # The request's one unit of work is the harness's one savepoint (BEGIN … COMMIT in
    # production): no savepoint inside it. (A RELEASE more may be the issuing request's own
    # "token last used" note, written after its answer was closed.)
    assert redeeming["SAVEPOINT"] == 1, dict(redeeming)
    assert work(redeeming) <= REDEMPTION_CEILING, dict(redeeming)


# Measured on 2026-12-01 (SQLite and PostgreSQL alike): the code 4 statements besides its
# unit of work (it was 17 with the harness's savepoints, among them a sweep of expired codes
# and a savepoint of its own): the token, the Idempotency-Key claimed, the code's digits
# claimed (INSERT … ON CONFLICT DO NOTHING), the stored answer. The redemption 15 besides
# its unit of work (it was 50 with 15 savepoints): the token with its person and roles; the
# Idempotency-Key claimed (INSERT … ON CONFLICT DO NOTHING); the offer with its shop and the
# shop's account; the pauses of typed codes; the code spent (UPDATE … RETURNING); the
# volunteer with community, wallet and "does this shop serve them"; the ledger transaction,
# the wallet checked and debited in one UPDATE, the two entries, the shop's account; the
# redemption, audit, the channel, the message; the stored answer. On 2026-12-07, 13: the
# pauses are asked by the update that spends the code, and the message's channel with the
# volunteer.
CODE_CEILING = 4
REDEMPTION_CEILING = 13


def test_my_rank_is_one_pass_over_the_board(db, now, make_community, make_volunteer):
    from app.points import rankings

    community = make_community()
    people = [make_volunteer(community=community, points=p) for p in (10, 30, 20, 40)]
    grid = org.place(community, "第1网格")
    for person in people:
        person.org_unit_id = grid.id
    db.session.flush()
    with counting() as seen:
        rank = rankings.rank_of(people[2], rankings.Scope("community", community.id), "month", now)
    assert (rank.position, rank.of, rank.to_next) == (3, 4, 10)
    # The wallet with its total and one aggregate over the board's counts (it was three
    # aggregates over the whole board).
    assert seen["SELECT"] == 2, dict(seen)
    with counting() as seen:
        rank = rankings.rank_of(people[2], rankings.Scope("grid", grid.id), "month", now)
    assert (rank.position, rank.of, rank.to_next) == (3, 4, 10)
    # The wallet with its total and one pass over the grid's board (the grid itself is
    # known to this session already).
    assert seen["SELECT"] == 2, dict(seen)


def test_a_check_in_by_text_runs_a_bounded_number_of_statements(
    app, client, db, app_clock, gateway_token, make_activity, make_volunteer, monkeypatch
):
    """签到 NNNN by SMS at an event of thousands: 6 statements and the command's savepoint (it
    was 8 and 3 savepoints): the sender; the message claimed once (INSERT … ON CONFLICT DO
    NOTHING); the sender's pauses; the open activities with their community; the attendance
    (INSERT … ON CONFLICT DO NOTHING RETURNING); the reply kept for a redelivery. The
    command's savepoint stays: a refusal undoes its work and keeps its strikes."""
    from app.activities import scan_codes
    from tests.test_chat_sms import messages, text

    activity = make_activity(points=10, hours=2)
    make_volunteer(community=activity.community, phone="+8613800138000")
    code = scan_codes.short_code(activity, "in", app_clock())
    monkeypatch.setitem(app.config, "DEMO_MODE", False)  # no demo outbox after the answer
    db.session.flush()
    db.session.expire_all()
    with counting() as seen:
        (reply,) = messages(text(client, "+8613800138000", f"签到 {code}"))
    assert "签到成功" in reply
    # Besides the harness's one savepoint (the request's unit of work: BEGIN … COMMIT in
    # production), one savepoint: the command's.
    assert seen["SAVEPOINT"] == 2, dict(seen)
    assert work(seen) <= 6, dict(seen)


def test_a_check_in_by_the_scan_page_runs_a_bounded_number_of_statements(
    app, client, db, app_clock, make_activity, make_volunteer, monkeypatch
):
    """The scan page at an event of thousands, two requests: the QR code's URL, which is the
    confirmation page for a signed-in volunteer (the activity with its community, whose
    zone its times are shown in; the person with their roles, for the menu), and its POST
    (the same two and the attendance). Nothing after the commit: the response's headers and
    the log line know who asked without loading the person again. It was three requests
    and 11 statements: a redirect to the confirmation page, every signed-in page's roles
    in a statement of their own, and the POST's person loaded again after its commit and
    the community when showing the time."""
    from app.activities import scan_codes
    from tests.conftest import csrf_from
    from tests.test_volunteer_flow import sign_in_by_code

    activity = make_activity(points=10, hours=2)
    make_volunteer(community=activity.community, phone="+8613800138021")
    sign_in_by_code(client, db, "13800138021")
    monkeypatch.setitem(app.config, "DEMO_MODE", False)  # no demo outbox after the answer
    token = scan_codes.scan_token(activity, "in", app_clock())
    db.session.flush()
    steps = {}

    def step():
        # Each request begins with nothing known, as in production (a session a request;
        # the harness keeps one for the whole test).
        db.session.expunge_all()
        return counting()

    with step() as steps["scan"]:
        confirm = client.get(f"/scan/in/{token}")
    with step() as steps["post"]:
        done = client.post("/scan/confirm", data={"csrf_token": csrf_from(confirm.text)})
    assert "签到成功" in done.text
    assert done.headers["Cache-Control"] == "no-store"  # a signed-in person's page
    ran = {name: work(seen) for name, seen in steps.items()}
    assert ran == {"scan": 2, "post": 3}, {k: dict(v) for k, v in steps.items()}

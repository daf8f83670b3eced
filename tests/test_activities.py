"""Activities: sign-up and waiting list, rotating codes, check-in/out, hours, points, approval."""

from datetime import timedelta

import pytest

from app.activities import activities, attendance, scan_codes
from app.core.errors import BusinessRuleError, CodeExpired, InvalidCode, InvalidInput
from app.models import Attendance
from app.people import people
from app.points import ledger

pytestmark = pytest.mark.usefixtures("english")

ROT = timedelta(seconds=scan_codes.ROTATION_SECONDS)


def fields(**kw):
    kw.setdefault("title", "清扫")
    return activities.ActivityFields(**kw)


# --- creating -----------------------------------------------------------------------------


def test_bad_activity_input_is_refused_with_the_field(db, now, make_community):
    community = make_community()
    cases = [
        (fields(starts_at=now, ends_at=now, title="x"), "ends_at"),
        (fields(starts_at=now, ends_at=now + timedelta(days=8)), "ends_at"),
        (fields(starts_at=now, ends_at=now + ROT, capacity=0), "capacity"),
        (fields(starts_at=now, ends_at=now + ROT, points=-1), "points"),
        (fields(starts_at=now, ends_at=now + ROT, points_rule="bribe"), "points_rule"),
        (activities.ActivityFields(title=" ", starts_at=now, ends_at=now + ROT), "title"),
    ]
    for given, field in cases:
        with pytest.raises(InvalidInput) as caught:
            activities.create_activity(community, given, actor=None, now=now, source="test")
        assert caught.value.field == field


# --- sign-up and waiting list -------------------------------------------------------------


def test_full_activity_puts_people_on_a_waiting_list_served_in_order(
    db, now, make_activity, make_volunteer
):
    activity = make_activity(capacity=2, starts_in=timedelta(days=1))
    a, b, c, d = (make_volunteer(community=activity.community) for _ in range(4))
    assert activities.sign_up(activity, a, now=now).status == "confirmed"
    assert activities.sign_up(activity, b, now=now).status == "confirmed"
    waiting_c = activities.sign_up(activity, c, now=now + ROT)
    waiting_d = activities.sign_up(activity, d, now=now + 2 * ROT)
    assert (waiting_c.status, waiting_d.status) == ("waitlisted", "waitlisted")
    assert activities.waiting_position(waiting_d) == 2
    # Signing up twice changes nothing.
    assert activities.sign_up(activity, a, now=now).status == "confirmed"
    assert activity.confirmed_count == 2

    activities.cancel_signup(activity, a, now=now + 3 * ROT)
    assert waiting_c.status == "confirmed" and waiting_d.status == "waitlisted"
    assert activities.waiting_position(waiting_d) == 1
    assert activity.confirmed_count == 2
    # Raising the capacity moves the next person up.
    activities.update_activity(
        activity,
        fields(starts_at=activity.starts_at, ends_at=activity.ends_at, capacity=3, points=10),
        actor=None,
        now=now,
        source="test",
    )
    assert waiting_d.status == "confirmed" and activity.confirmed_count == 3


def test_capacity_cannot_drop_below_the_confirmed(db, now, make_activity, make_volunteer):
    activity = make_activity(capacity=5, starts_in=timedelta(days=1))
    for _ in range(3):
        activities.sign_up(activity, make_volunteer(community=activity.community), now=now)
    with pytest.raises(BusinessRuleError, match="3 people"):
        activities.update_activity(
            activity,
            fields(starts_at=activity.starts_at, ends_at=activity.ends_at, capacity=2),
            actor=None,
            now=now,
            source="test",
        )


def test_the_promoted_person_is_told(db, now, make_activity, make_volunteer):
    from app.channels import outbox

    activity = make_activity(capacity=1, starts_in=timedelta(days=1), title="敬老院探访")
    first, second = (make_volunteer(community=activity.community) for _ in range(2))
    activities.sign_up(activity, first, now=now)
    activities.sign_up(activity, second, now=now)
    activities.cancel_signup(activity, first, now=now)
    message = outbox.recent(1)[0]
    assert message.person_id == second.id and "敬老院探访" in message.body


# --- rotating codes -----------------------------------------------------------------------


def test_a_code_from_the_previous_rotation_works_two_rotations_ago_does_not(db, now, make_activity):
    activity = make_activity()
    token = scan_codes.scan_token(activity, "in", now)
    start = now - timedelta(seconds=now.timestamp() % scan_codes.ROTATION_SECONDS)
    token = scan_codes.scan_token(activity, "in", start)
    assert scan_codes.read_scan_token(token, "in", start + ROT - timedelta(seconds=1)) == activity
    assert scan_codes.read_scan_token(token, "in", start + ROT) == activity  # previous rotation
    assert scan_codes.read_scan_token(token, "in", start + 2 * ROT - timedelta(seconds=1))
    with pytest.raises(CodeExpired, match="expired, scan the screen again"):
        scan_codes.read_scan_token(token, "in", start + 2 * ROT)  # two rotations ago


def test_forged_tampered_and_wrong_kind_codes_are_refused(db, now, make_activity, caplog):
    activity = make_activity()
    token = scan_codes.scan_token(activity, "in", now)
    other_id = token.replace(f"{activity.id}.", f"{activity.id + 1}.", 1)
    for bad in (other_id, token[:-2] + "xx", "hello", "", token + "."):
        with pytest.raises(InvalidCode):
            scan_codes.read_scan_token(bad, "in", now)
    with pytest.raises(InvalidCode):
        scan_codes.read_scan_token(token, "out", now)  # a check-in code is not a check-out
    assert "forged or tampered" in caplog.text


# --- check-in and check-out ---------------------------------------------------------------


def test_scan_in_and_out_posts_points_per_hour(db, now, make_activity, make_volunteer):
    activity = make_activity(points_rule="per_hour", points=10, hours=3)
    volunteer = make_volunteer(community=activity.community)
    first = attendance.check_in(activity, volunteer, now=now + timedelta(minutes=2))
    again = attendance.check_in(activity, volunteer, now=now + timedelta(minutes=3))
    assert not first.repeated and again.repeated
    assert again.attendance.checked_in_at == now + timedelta(minutes=2)

    out = attendance.check_out(
        activity, volunteer, now=now + timedelta(minutes=2, hours=2, seconds=59)
    )
    record = out.attendance
    assert record.status == "approved" and record.minutes == 120
    assert record.points == 20
    assert ledger.balance(ledger.wallet_for(volunteer)) == 20
    assert volunteer.verified_minutes == 120
    assert attendance.check_out(activity, volunteer, now=now + timedelta(hours=3)).repeated
    assert ledger.balance(ledger.wallet_for(volunteer)) == 20
    assert ledger.check() == []


def test_hours_are_capped_at_schedule_plus_grace(db, app, now, make_activity, make_volunteer):
    activity = make_activity(points_rule="per_hour", points=6, hours=1)
    volunteer = make_volunteer(community=activity.community)
    attendance.check_in(activity, volunteer, now=now - timedelta(minutes=30))
    grace = app.config["ATTENDANCE_GRACE_MINUTES"]
    result = attendance.check_out(activity, volunteer, now=now + timedelta(minutes=60 + grace))
    assert result.attendance.minutes == 60 + grace
    assert result.attendance.points == (60 + grace) * 6 // 60


def test_check_in_window_and_order_rules(db, app, now, make_activity, make_volunteer):
    activity = make_activity(starts_in=timedelta(hours=1), hours=2)
    volunteer = make_volunteer(community=activity.community)
    early = app.config["CHECKIN_EARLY_MINUTES"]
    with pytest.raises(BusinessRuleError, match="opens at 11:"):
        attendance.check_in(activity, volunteer, now=now + timedelta(minutes=59 - early))
    with pytest.raises(BusinessRuleError, match="not checked in"):
        attendance.check_out(activity, volunteer, now=now + timedelta(hours=1))
    with pytest.raises(BusinessRuleError, match="ended at 13:30"):
        attendance.check_in(activity, volunteer, now=now + timedelta(hours=3, minutes=1))
    assert not attendance.check_in(
        activity, volunteer, now=now + timedelta(minutes=60 - early)
    ).repeated


def test_sign_up_required_means_a_confirmed_place(
    db, now, make_activity, make_volunteer, make_user
):
    activity = make_activity(signup_required=True, capacity=1)
    first, second, stranger = (make_volunteer(community=activity.community) for _ in range(3))
    activities.sign_up(activity, first, now=now)
    activities.sign_up(activity, second, now=now)
    assert not attendance.check_in(activity, first, now=now).repeated
    with pytest.raises(BusinessRuleError, match="waiting list"):
        attendance.check_in(activity, second, now=now)
    with pytest.raises(BusinessRuleError, match="Sign up first"):
        attendance.check_in(activity, stranger, now=now)
    # Staff at the desk may check anyone in.
    staff = make_user(communities=[activity.community])
    desk = attendance.check_in(activity, stranger, now=now, method="staff", recorded_by=staff)
    assert desk.attendance.method == "staff" and desk.attendance.recorded_by_id == staff.id


def test_approval_flow_posts_points_only_when_approved(
    db, now, make_activity, make_volunteer, make_user
):
    activity = make_activity(needs_approval=True, points=15)
    volunteer = make_volunteer(community=activity.community)
    staff = make_user(communities=[activity.community])
    attendance.check_in(activity, volunteer, now=now)
    record = attendance.check_out(activity, volunteer, now=now + timedelta(hours=1)).attendance
    assert record.status == "pending" and ledger.find_wallet(volunteer).balance == 0
    attendance.approve(record, actor=staff, now=now + timedelta(hours=2))
    assert record.status == "approved" and record.decided_by_id == staff.id
    assert ledger.balance(ledger.wallet_for(volunteer)) == 15
    assert volunteer.verified_minutes == 60
    # Approving twice posts nothing twice.
    attendance.approve(record, actor=staff, now=now + timedelta(hours=2))
    assert ledger.balance(ledger.wallet_for(volunteer)) == 15
    assert ledger.check() == []


def test_reject_needs_a_reason_and_takes_back_an_approval(
    db, now, make_activity, make_volunteer, make_user
):
    activity = make_activity(points=15)
    volunteer = make_volunteer(community=activity.community)
    staff = make_user(communities=[activity.community])
    attendance.check_in(activity, volunteer, now=now)
    record = attendance.check_out(activity, volunteer, now=now + timedelta(hours=1)).attendance
    assert record.status == "approved"
    with pytest.raises(InvalidInput):
        attendance.reject(record, actor=staff, now=now, reason="  ")
    attendance.reject(record, actor=staff, now=now + timedelta(hours=1), reason="代签")
    assert record.status == "rejected" and record.note == "代签"
    assert ledger.balance(ledger.wallet_for(volunteer)) == 0
    assert volunteer.verified_minutes == 0
    assert ledger.check() == []


def test_correcting_an_approved_attendance_reposts_its_points(
    db, now, make_activity, make_volunteer, make_user
):
    activity = make_activity(points_rule="per_hour", points=10, hours=3)
    volunteer = make_volunteer(community=activity.community)
    staff = make_user(communities=[activity.community])
    attendance.check_in(activity, volunteer, now=now)
    record = attendance.check_out(activity, volunteer, now=now + timedelta(hours=1)).attendance
    assert record.points == 10
    attendance.correct_times(
        record,
        checked_in_at=now,
        checked_out_at=now + timedelta(hours=3),
        actor=staff,
        now=now + timedelta(hours=4),
        reason="忘记签退",
    )
    assert record.status == "approved" and record.minutes == 180
    assert ledger.balance(ledger.wallet_for(volunteer)) == 30
    assert volunteer.verified_minutes == 180
    assert record.revision == 1
    with pytest.raises(InvalidInput):
        attendance.correct_times(
            record,
            checked_in_at=now,
            checked_out_at=now - timedelta(minutes=1),
            actor=staff,
            now=now + timedelta(hours=4),
            reason="x",
        )
    assert ledger.check() == []


def test_a_missing_check_out_is_closed_unverified_and_waits_for_staff(
    db, app, now, make_activity, make_volunteer, make_user
):
    activity = make_activity(points=8, hours=2)
    late = make_volunteer(community=activity.community)
    attendance.check_in(activity, late, now=now + timedelta(minutes=30))
    grace = timedelta(minutes=app.config["ATTENDANCE_GRACE_MINUTES"])
    assert attendance.close_overdue(activity.ends_at + grace) == 0
    assert attendance.close_overdue(activity.ends_at + grace + timedelta(seconds=1)) == 1
    record = attendance.attendance_of(activity, late)
    assert record.status == "pending" and record.unverified
    assert record.closed_by == "auto" and record.minutes == 90
    assert ledger.find_wallet(late).balance == 0 and late.verified_minutes == 0
    staff = make_user(communities=[activity.community])
    attendance.approve(record, actor=staff, now=now + timedelta(hours=5))
    assert not record.unverified and ledger.balance(ledger.wallet_for(late)) == 8
    assert late.verified_minutes == 90


def test_budget_used_up_leaves_the_attendance_for_staff(
    db, now, make_community, make_activity, make_volunteer, make_user
):
    community = make_community(budget=10)
    activity = make_activity(community=community, points=15)
    volunteer = make_volunteer(community=community)
    attendance.check_in(activity, volunteer, now=now)
    record = attendance.check_out(activity, volunteer, now=now + timedelta(hours=1)).attendance
    assert record.status == "pending" and "budget" in record.note
    admin = make_user(kind="admin")
    attendance.approve(record, actor=admin, now=now + timedelta(hours=1))
    assert ledger.balance(ledger.wallet_for(volunteer)) == 15


def test_points_come_from_the_activity_community(
    db, now, make_community, make_activity, make_volunteer
):
    home, host = make_community(), make_community()
    activity = make_activity(community=host, points=5)
    volunteer = make_volunteer(community=home)
    attendance.check_in(activity, volunteer, now=now)
    attendance.check_out(activity, volunteer, now=now + timedelta(hours=1))
    assert ledger.balance(ledger.issuance_account(host)) == -5
    assert ledger.balance(ledger.issuance_account(home)) == 0


def test_screen_shows_count_and_masked_latest(db, now, make_activity, make_volunteer):
    activity = make_activity()
    for i, name in enumerate(["张明", "李小红", "欧阳娜娜"]):
        person = make_volunteer(community=activity.community, name=name)
        attendance.check_in(activity, person, now=now + timedelta(minutes=i))
    state = attendance.screen_state(activity)
    assert state.checked_in == 3
    assert [name for name, _at in state.latest] == ["欧**娜", "李*红", "张*"]


def test_hours_by_month_and_star_level(db, now, make_activity, make_volunteer):
    activity = make_activity(hours=2)
    volunteer = make_volunteer(community=activity.community)
    attendance.check_in(activity, volunteer, now=now)
    attendance.check_out(activity, volunteer, now=now + timedelta(hours=2))
    assert attendance.minutes_by_month(volunteer) == [("2026-11", 120)]
    assert people.summary(volunteer, now).verified_minutes == 120
    assert db.session.get(Attendance, attendance.attendance_of(activity, volunteer).id)

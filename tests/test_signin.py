"""Signing in by phone: codes are hashed, expire, allow 5 tries, then cool down."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core import clock
from app.core.errors import (
    BusinessRuleError,
    CodeExpired,
    InvalidCode,
    InvalidPhone,
    TooManyAttempts,
)
from app.models import OutboxMessage, SignInCode
from app.people import signin

pytestmark = pytest.mark.usefixtures("english")


def _code_in(message: OutboxMessage) -> str:
    return re.search(r"\b\d{6}\b", message.body, re.ASCII).group()


def test_a_code_is_sent_hashed_and_signs_in_once(db, now, make_volunteer):
    person = make_volunteer(phone="+8613800138001")
    message = signin.send_code("138 0013 8001", now=now, locale="zh")
    code = _code_in(message)
    assert len(code) == 6
    assert message.recipient == "+8613800138001" and message.person_id == person.id
    assert "登录验证码" in message.body
    stored = db.session.scalar(sa.select(SignInCode))
    assert code not in stored.code_hash
    assert signin.check_code("13800138001", code, now=now + timedelta(minutes=4)) == person.phone
    with pytest.raises(CodeExpired):
        signin.check_code("13800138001", code, now=now + timedelta(minutes=4))


def test_an_unknown_phone_gets_a_code_too(db, now):
    message = signin.send_code("13900001111", now=now, locale="en")
    assert message.person_id is None
    assert "sign-in code" in message.body
    assert signin.check_code("13900001111", _code_in(message), now=now) == "+8613900001111"


def test_a_code_expires_after_five_minutes(db, now):
    code = _code_in(signin.send_code("13900001112", now=now, locale="zh"))
    with pytest.raises(CodeExpired):
        signin.check_code("13900001112", code, now=now + timedelta(minutes=5))


def test_five_wrong_tries_lock_the_code_and_cool_down_the_phone(db, now):
    code = _code_in(signin.send_code("13900001113", now=now, locale="en"))
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        with pytest.raises(InvalidCode, match=f"{left} tries left"):
            signin.check_code("13900001113", wrong, now=now)
    ends = clock.local(now + timedelta(minutes=15), None).strftime("%H:%M")
    with pytest.raises(TooManyAttempts, match=f"at {ends} \\(in 15 minutes\\)"):
        signin.check_code("13900001113", wrong, now=now)
    # The right code no longer works, and says why (not "expired"): until the lock ends.
    with pytest.raises(TooManyAttempts, match=f"at {ends} \\(in 10 minutes\\)"):
        signin.check_code("13900001113", code, now=now + timedelta(minutes=5))
    with pytest.raises(CodeExpired):  # the lock over, the code is simply dead
        signin.check_code("13900001113", code, now=now + timedelta(minutes=16))
    with pytest.raises(TooManyAttempts):
        signin.send_code("13900001113", now=now + timedelta(minutes=14), locale="en")
    signin.send_code("13900001113", now=now + timedelta(minutes=16), locale="en")


def test_resend_waits_a_minute_and_retires_the_old_code(db, now):
    first = _code_in(signin.send_code("13900001114", now=now, locale="en"))
    with pytest.raises(TooManyAttempts, match="30 seconds"):
        signin.send_code("13900001114", now=now + timedelta(seconds=30), locale="en")
    second = _code_in(signin.send_code("13900001114", now=now + timedelta(seconds=61), locale="en"))
    later = now + timedelta(seconds=62)
    if first != second:  # only the newest code is accepted
        with pytest.raises(InvalidCode, match="wrong"):
            signin.check_code("13900001114", first, now=later)
    assert signin.check_code("13900001114", second, now=later) == "+8613900001114"


def test_at_most_five_codes_an_hour(db, now):
    for minute in range(5):
        signin.send_code("13900001115", now=now + timedelta(minutes=2 * minute), locale="en")
    with pytest.raises(TooManyAttempts, match="Too many codes"):
        signin.send_code("13900001115", now=now + timedelta(minutes=20), locale="en")
    signin.send_code("13900001115", now=now + timedelta(minutes=61), locale="en")


def test_bad_input_is_named(db, now):
    with pytest.raises(InvalidPhone):
        signin.send_code("12345", now=now, locale="en")
    signin.send_code("13900001116", now=now, locale="en")
    with pytest.raises(InvalidCode, match="6 digits"):
        signin.check_code("13900001116", "12ab", now=now)


def test_password_accounts_do_not_sign_in_by_code(db, now, make_user):
    staff = make_user()
    with pytest.raises(BusinessRuleError, match="password"):
        signin.send_code(staff.phone, now=now, locale="en")

"""A volunteer's code for merchants: 60 seconds, single use, nothing personal inside."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.errors import CodeExpired, InvalidCode
from app.models import PersonalCode
from app.partners import personal_codes

pytestmark = pytest.mark.usefixtures("english")


def test_token_and_digits_name_the_person_once(db, now, make_volunteer):
    volunteer = make_volunteer(phone="+8613800138055")
    issued = personal_codes.issue(volunteer, now=now)
    assert "13800138055" not in issued.token and "13800138055" not in issued.digits
    assert len(issued.digits) == 8 and issued.digits.isdigit()
    assert issued.expires_at == now + timedelta(seconds=60)
    used = personal_codes.use(issued.token, now=now + timedelta(seconds=59))
    assert used.person_id == volunteer.id
    with pytest.raises(CodeExpired, match="already used"):
        personal_codes.use(issued.token, now=now + timedelta(seconds=59))
    with pytest.raises(CodeExpired, match="already used"):
        personal_codes.use(issued.digits, now=now + timedelta(seconds=59))


def test_typed_digits_work_and_expire_after_a_minute(db, now, make_volunteer):
    volunteer = make_volunteer()
    issued = personal_codes.issue(volunteer, now=now)
    spaced = f"{issued.digits[:3]} {issued.digits[3:]}"
    assert personal_codes.use(spaced, now=now).person_id == volunteer.id
    late = personal_codes.issue(volunteer, now=now)
    with pytest.raises(CodeExpired, match="expired"):
        personal_codes.use(late.digits, now=now + timedelta(seconds=60))


def test_forged_and_unknown_codes_are_refused(db, now, make_volunteer, caplog):
    issued = personal_codes.issue(make_volunteer(), now=now)
    row_id, rest = issued.token.split(".", 1)
    for bad in (issued.token[:-3] + "abc", f"{int(row_id) + 1}.{rest}", "not-a-code"):
        with pytest.raises(InvalidCode):
            personal_codes.use(bad, now=now)
    assert "forged" in caplog.text
    unused = "00000000" if issued.digits != "00000000" else "00000001"
    with pytest.raises(InvalidCode, match="No volunteer"):
        personal_codes.use(unused, now=now)


def test_every_live_code_has_its_own_digits(db, now, make_volunteer):
    volunteer = make_volunteer()
    digits = {personal_codes.issue(volunteer, now=now).digits for _ in range(200)}
    assert len(digits) == 200


def test_a_draw_that_meets_an_expired_code_frees_its_digits(db, make_volunteer, now, monkeypatch):
    ann, bob = make_volunteer(), make_volunteer(name="李华")
    old = personal_codes.issue(ann, now=now - timedelta(hours=1))
    live = personal_codes.issue(ann, now=now)
    # Every draw gives the expired code's digits, then the live code's, then new ones.
    draws = iter([int(old.digits), int(old.digits), int(live.digits), 12345678])
    monkeypatch.setattr(personal_codes.secrets, "randbelow", lambda _n: next(draws))
    first = personal_codes.issue(bob, now=now)
    assert first.digits == old.digits  # freed on meeting it, then taken
    second = personal_codes.issue(bob, now=now)
    assert second.digits == "12345678"  # a live code's digits are never taken
    assert personal_codes.use(live.digits, now=now).person_id == ann.id
    monkeypatch.undo()
    # The daily purge frees the rest.
    personal_codes.issue(ann, now=now - timedelta(hours=2), lifetime=timedelta(seconds=60))
    assert personal_codes.purge(now) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PersonalCode)) == 3

"""Secrets stay secret: no usable sign-in code in the database or the log once sent."""

import logging
import re

import sqlalchemy as sa

from app.models import OutboxMessage
from tests.conftest import csrf_from


def test_a_sent_sign_in_code_is_not_kept_in_the_outbox_nor_logged(
    client, db, gateway, caplog, make_volunteer
):
    make_volunteer(phone="+8613800138000")
    with caplog.at_level(logging.DEBUG):
        page = client.get("/signin")
        client.post("/signin", data={"phone": "13800138000", "csrf_token": csrf_from(page.text)})
    (sent,) = gateway.messages
    code = re.search(r"\d{6}", sent["Body"]).group(0)
    message = db.session.scalar(sa.select(OutboxMessage).filter_by(kind="sign_in_code"))
    assert message.status == "sent" and code not in message.body
    assert code not in caplog.text
    # The code texted still signs in: only its keyed hash was needed.
    page = client.get("/signin/code")
    done = client.post("/signin/code", data={"code": code, "csrf_token": csrf_from(page.text)})
    assert done.status_code == 302

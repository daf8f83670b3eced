"""A new Telegram user's first messages arriving at once (real connections, real commits):
one chat link, every message answered. It used to be select-then-insert, and the losers of
the race answered 500 on the link's unique key (issue 18)."""

import copy

import pytest
import sqlalchemy as sa

from app.core.extensions import db
from app.models import ChatLink, InboundMessage
from tests.conftest import run_threads
from tests.test_chat_telegram import SECRET, TEXT

pytestmark = pytest.mark.committing


def test_many_first_messages_at_once_make_one_link(committed_app):
    committed_app.config["TELEGRAM_WEBHOOK_SECRET"] = SECRET
    try:

        def first_message(index: int):
            update = copy.deepcopy(TEXT)
            update["update_id"] = 700_000_000 + index
            update["message"]["message_id"] = 9_000 + index
            update["message"]["text"] = "帮助"
            update["message"]["from"]["id"] = update["message"]["chat"]["id"] = 6_100_200_300
            with committed_app.app_context():
                try:
                    return (
                        committed_app.test_client()
                        .post(
                            "/chat/telegram/webhook",
                            json=update,
                            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                        )
                        .status_code
                    )
                finally:
                    db.session.remove()

        statuses = run_threads(12, first_message)
    finally:
        committed_app.config["TELEGRAM_WEBHOOK_SECRET"] = None
    assert statuses == [200] * 12, statuses
    with committed_app.app_context():
        links = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ChatLink)
            .filter_by(channel="telegram", external_id="6100200300")
        )
        assert links == 1
        inbound = sa.select(sa.func.count()).select_from(InboundMessage)
        assert db.session.scalar(inbound) == 12

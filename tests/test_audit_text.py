"""The audit log in sentences (issue 19): every action the code records has one, in zh and
en, and the panel's page and CSV say what happened with the record one click away."""

import html
import re
from pathlib import Path

from flask_babel import force_locale

from app.core import audit
from app.panel import audit_text
from tests.conftest import csrf_from

ROOT = Path(__file__).resolve().parent.parent


def recorded_actions() -> set[str]:
    """Every action name the code passes to audit.record (or org's _record)."""
    found = set()
    for folder in ("app", "volunteers", "merchants"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found |= set(re.findall(r'record\(\s*"([a-z_]+\.[a-z_]+)"', text))
            # the two-way ones: "a.b" if flag else "a.c"
            found |= set(re.findall(r'"([a-z_]+\.[a-z_]+)" if \w+ else "[a-z_.]+"', text))
            found |= set(re.findall(r'"[a-z_.]+" if \w+ else "([a-z_]+\.[a-z_]+)"', text))
    return found


def test_every_recorded_action_has_a_sentence_and_every_group_a_label(app):
    actions = recorded_actions()
    assert len(actions) > 45  # the patterns still find what they look for
    assert actions - set(audit_text.SENTENCES) == set(), "actions without a sentence"
    assert set(audit_text.GROUP_LABELS) == set(audit.ACTION_GROUPS)
    with app.test_request_context(), force_locale("zh"):
        for action, sentence in audit_text.SENTENCES.items():
            places = dict.fromkeys(("who", "subject", "person", "points", "hours"), "x")
            places |= dict.fromkeys(("title", "role", "review"), "x")
            assert "%(" not in str(sentence) % places, action


def test_the_log_says_what_happened_in_the_readers_language(
    client, db, make_community, make_volunteer, make_user, login
):
    community = make_community("阳光社区")
    staff = make_user(communities=[community])
    person = make_volunteer(community=community, name="张明")
    login(staff)
    page = client.get(f"/panel/adjustments/new?person={person.id}")
    client.post(
        f"/panel/adjustments/new?person={person.id}",
        data={
            "csrf_token": csrf_from(page.text),
            "person": person.id,
            "key": "adj-audit-1",
            "points": "300",
            "reason": "补记义诊",
        },
    )
    log = client.get("/panel/audit")
    assert f"{staff.name} 提议为 张明 调整 +300 积分" in log.text
    assert "<details" in log.text and "adjustment.propose" in log.text  # one click away
    assert "积分发放</option>" in log.text  # the filter in the reader's language
    csv = client.get("/panel/audit.csv").data.decode()
    assert "提议为 张明 调整 +300 积分" in csv.splitlines()[1]
    english = client.get("/panel/audit?lang=en")
    assert f"{staff.name} proposed to correct 张明's points by +300" in html.unescape(english.text)

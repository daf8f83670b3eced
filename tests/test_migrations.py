"""Migrations applied to a street that has data, as a deployment upgrades (not only to the
empty database the test suite starts from)."""

import os
import subprocess
import sys

import pytest

from tests.servers import ROOT

# A SQLite street at 0020 with a resident and a message to them (rows that refer to
# `people`), upgraded to the head, downgraded to 0020 and upgraded again. SQLite enforces
# the foreign keys here (app.core.database turns them on): a migration that rebuilds
# `people` by a batch fails its DROP TABLE, as 0021's first version did.
PROBE = """
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from app import create_app
from app.core.extensions import db
app = create_app()
NOW = "2026-12-01 02:00:00+00:00"
with app.app_context():
    upgrade(revision="0020")
    run = lambda sql: db.session.execute(sa.text(sql))
    run(f"INSERT INTO org_units (id, kind, name, path, created_at) "
        f"VALUES (1, 'community', '阳光社区', '/1/', '{NOW}')")
    run(f"INSERT INTO people (id, name, phone, community_id, locale, hide_from_boards, "
        f"verified_minutes, is_active_account, notifications_off, session_version, "
        f"created_at, updated_at) VALUES (1, '王秀英', '+8613800138000', 1, 'zh', 0, 0, 1, "
        f"0, 0, '{NOW}', '{NOW}')")
    run(f"INSERT INTO outbox_messages (person_id, channel, recipient, kind, body, status, "
        f"attempts, created_at, last_error) VALUES (1, 'sms', '+8613800138000', 'x', 'hi', "
        f"'sent', 1, '{NOW}', '')")
    db.session.commit()
    tables = ("people", "outbox_messages")

    def counts(*extra):
        found = [run(f"SELECT count(*) FROM {t}").scalar() for t in tables]
        found += [run(sql).scalar() for sql in extra]
        db.session.remove()  # the migrations take the write lock on their own connection
        return found

    upgrade()
    after = counts("SELECT broadcasts_off FROM people")
    downgrade(revision="0020")
    back = counts()
    upgrade()
    checked = run("PRAGMA foreign_key_check").fetchall()
    print(after, back, counts(), checked)
"""


@pytest.mark.once
def test_0021_upgrades_and_downgrades_a_sqlite_street_with_data(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINLI_", "DATABASE_URL"))}
    env.update(
        {
            "LINLI_INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'street.sqlite3'}",
        }
    )
    out = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[1, 1, 0] [1, 1] [1, 1] []"

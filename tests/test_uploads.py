"""Uploads every app server shares (kept in the database), imports written in chunks that
never keep a text message waiting, and the purge of what has run out (issue 18)."""

from __future__ import annotations

import io
import re
import threading
import time
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from app.core import files
from app.core.database import commit_chunk, commit_unit_of_work
from app.core.errors import InvalidInput
from app.models import Person, ResidentImport, StoredFile
from app.panel import residents as residents_views
from app.people import people, residents_import
from tests.conftest import DB_KIND, SMS_TOKEN, csrf_from
from tests.servers import gunicorn


def csv_of(count: int, start: int = 0) -> bytes:
    lines = ["手机号,姓名,楼栋"]
    lines += [f"139{i:08d},居民{i},{i % 7 + 1}号楼" for i in range(start, start + count)]
    return "\n".join(lines).encode()


@pytest.fixture
def desk(db, make_community, make_user, login):
    community = make_community("阳光社区")
    staff = make_user(communities=[community])
    login(staff)
    return community, staff


def new_community(name: str):
    from app.people import org

    return org.create_community(name, street=org.get_or_create_street("测试街道"))


def upload(client, community, data: bytes):
    page = client.get("/panel/residents/import")
    preview = client.post(
        "/panel/residents/import",
        data={
            "csrf_token": csrf_from(page.text),
            "community": community.id,
            "file": (io.BytesIO(data), "居民.csv"),
        },
        content_type="multipart/form-data",
    )
    assert preview.status_code == 200
    token = re.search(r'name="token" value="([0-9a-f]{32})"', preview.text).group(1)
    return token, csrf_from(preview.text)


def residents_of(db, community_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Person).where(Person.community_id == community_id)
    )


def test_the_checked_file_and_its_counts_are_kept_in_the_database(client, db, desk):
    community, staff = desk
    token, _csrf = upload(client, community, csv_of(3) + b"\n12345,bad,")
    record = db.session.scalar(sa.select(ResidentImport).filter_by(token=token))
    assert (record.status, record.new, record.bad, record.rows_total) == ("checked", 3, 1, 3)
    assert record.actor_id == staff.id and record.file.kind == "import"
    assert record.file.data.startswith("手机号".encode())
    assert record.file.expires_at == record.created_at + timedelta(hours=24)


def test_an_import_is_written_in_chunks_over_several_requests(client, db, desk, monkeypatch):
    community, _staff = desk
    # Each request writes one chunk, then hands over to the progress page.
    monkeypatch.setattr(residents_views, "IMPORT_SECONDS_PER_REQUEST", 0)
    token, csrf = upload(client, community, csv_of(250))
    form = {"csrf_token": csrf, "token": token}
    first = client.post("/panel/residents/import/confirm", data=form)
    assert first.headers["Location"].endswith(f"/panel/residents/import/{token}")
    assert residents_of(db, community.id) == 100
    progress = client.get(first.headers["Location"])
    assert "已写入 100 / 250 行" in progress.text and "data-autosubmit" in progress.text
    # The import page lists it as under way, for whoever closed the progress page.
    assert f"/panel/residents/import/{token}" in client.get("/panel/residents/import").text
    client.post("/panel/residents/import/confirm", data=form)
    assert residents_of(db, community.id) == 200
    done = client.post("/panel/residents/import/confirm", data=form)
    assert done.headers["Location"].endswith(f"/panel/residents?community={community.id}")
    assert residents_of(db, community.id) == 250
    record = db.session.scalar(sa.select(ResidentImport).filter_by(token=token))
    assert (record.status, record.rows_done, record.changed) == ("done", 250, 250)
    assert record.file is None  # the file goes once it is imported
    assert files.find("import", token) is None
    again = client.post("/panel/residents/import/confirm", data=form)
    assert "已经导入过" in client.get(again.headers["Location"]).text
    assert residents_of(db, community.id) == 250


def test_another_workers_import_is_not_found(client, db, desk, make_user, login):
    community, _staff = desk
    token, _csrf = upload(client, community, csv_of(2))
    colleague = make_user(communities=[community])
    client.post(
        "/logout", data={"csrf_token": csrf_from(client.get("/panel/residents/import").text)}
    )
    login(colleague)
    page = client.get("/panel/residents/import")
    refused = client.post(
        "/panel/residents/import/confirm",
        data={"csrf_token": csrf_from(page.text), "token": token},
    )
    assert refused.status_code == 404
    assert client.get(f"/panel/residents/import/{token}").status_code == 404
    assert residents_of(db, community.id) == 0


def test_purge_deletes_checks_never_confirmed_and_keeps_photos(db, desk, now):
    community, staff = desk
    record, _plan = residents_import.check(
        csv_of(2), community, may_move=False, actor=staff, file_name="a.csv", now=now
    )
    photo = files.store(
        "offer-photo", "1-0123456789abcdef.jpg", b"jpeg", content_type="image/jpeg", now=now
    )
    later = now + timedelta(hours=24, minutes=1)
    flush = db.session.flush
    assert files.purge(now, checkpoint=flush) == 0 and residents_import.purge(now) == 0
    assert files.purge(later, checkpoint=flush) == 1 and residents_import.purge(later) == 1
    assert db.session.get(StoredFile, photo.id) is not None
    assert db.session.scalar(sa.select(ResidentImport).filter_by(id=record.id)) is None


def test_reads_end_before_a_photo_is_decoded_only_while_nothing_was_written(
    db, now, make_volunteer, monkeypatch
):
    """finish_reads ends the unit of work before slow work only when it has written
    nothing: after a write of any kind (a flush, a Core statement, an insert loaded back)
    it never cuts the unit in two."""
    from app.channels import outbox
    from app.core import audit, database
    from app.models.base import table_of

    person = make_volunteer()
    commit_unit_of_work()
    commits: list[int] = []
    monkeypatch.setattr(database, "commit_unit_of_work", lambda: commits.append(1))
    database.finish_reads()  # nothing written yet: ended
    assert commits == [1]
    people_table = table_of(Person)
    writes = {
        "a flush": lambda: (setattr(person, "name", "改名"), db.session.flush()),
        "a Core statement": lambda: db.session.execute(
            sa.update(people_table).where(people_table.c.id == person.id).values(name="再改")
        ),
        "an insert loaded back": lambda: outbox.stop_texts(person.phone, now),
        "an audit event": lambda: audit.record(
            "test.write", person, actor=None, source="cli", now=now
        ),
    }
    for what, write in writes.items():
        write()
        database.finish_reads()
        assert commits == [1], what
        commit_unit_of_work()  # the real one: the next unit starts clean


def test_a_photo_is_served_from_the_database_and_a_new_one_replaces_it(
    db, client, make_merchant, now
):
    from app.partners import offers

    _merchant, offer = make_merchant()
    first = offers.save_photo(offer, b"\xff\xd8first", now=now)
    served = client.get(f"/offers/photo/{first}")
    assert served.status_code == 200 and served.data == b"\xff\xd8first"
    assert served.mimetype == "image/jpeg" and "max-age=86400" in served.headers["Cache-Control"]
    again = client.get(f"/offers/photo/{first}", headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304
    second = offers.save_photo(offer, b"\xff\xd8second", now=now)
    assert client.get(f"/offers/photo/{second}").data == b"\xff\xd8second"
    assert client.get(f"/offers/photo/{first}").status_code == 404  # the old one is gone
    assert client.get("/offers/photo/../secret_key").status_code == 404
    with pytest.raises(InvalidInput, match="最多 1 MB"):
        files.store(
            "offer-photo", "x.jpg", b"x" * (1024 * 1024 + 1), content_type="image/jpeg", now=now
        )


@pytest.mark.once
def test_an_import_checked_on_one_server_is_confirmed_on_another(committed_app, tmp_path):
    """Two gunicorn servers on one database and one secret: the file travels with it."""
    from app.core.extensions import db

    with committed_app.app_context():
        community = new_community("两台社区")
        people.create_user(
            kind="staff",
            name="李社工",
            phone="13600000001",
            password="correct horse",
            communities=[community],
            now=committed_app.config["LINLI_CLOCK"](),
            actor=None,
            source="test",
        )
        commit_unit_of_work()
        community_id = community.id
        db.session.remove()
    url = committed_app.config["SQLALCHEMY_DATABASE_URI"]
    shared = {"SECRET_KEY": "s" * 40}
    with (
        gunicorn(tmp_path / "a", url, workers=1, env=shared) as a,
        gunicorn(tmp_path / "b", url, workers=1, env=shared) as b,
    ):
        browser = requests.Session()
        page = browser.get(a.url + "/login")
        browser.post(
            a.url + "/login",
            data={
                "login": "13600000001",
                "password": "correct horse",
                "csrf_token": csrf_from(page.text),
            },
        )
        page = browser.get(a.url + "/panel/residents/import")
        preview = browser.post(
            a.url + "/panel/residents/import",
            data={"csrf_token": csrf_from(page.text), "community": community_id},
            files={"file": ("居民.csv", csv_of(120), "text/csv")},
        )
        assert preview.status_code == 200, a.output()
        token = re.search(r'name="token" value="([0-9a-f]{32})"', preview.text).group(1)
        done = browser.post(
            b.url + "/panel/residents/import/confirm",
            data={"csrf_token": csrf_from(preview.text), "token": token},
        )
        flashed = re.findall(r'class="flash[^>]*>([^<]*)', done.text)
        assert done.url.endswith(f"community={community_id}"), flashed
        assert "新增或修改 120 人" in done.text, done.text
    with committed_app.app_context():
        count = residents_of(db, community_id)
        db.session.remove()
    assert count == 120


@pytest.mark.once
def test_a_text_message_is_answered_while_a_5000_row_import_runs(committed_app):
    """SQLite has one write lock for the whole server. The import gives it up after every
    chunk, long enough for a waiting writer: a text answered before the import ends proves
    no transaction held it throughout."""
    from app.core.extensions import db

    app = committed_app
    app.config["SMS_AUTH_TOKEN"] = SMS_TOKEN
    with app.app_context():
        now = app.config["LINLI_CLOCK"]()
        community = new_community("大社区")
        elder = people.create_person(
            name="王奶奶",
            phone="13700000001",
            community=community,
            now=now,
            actor=None,
            source="test",
        )
        commit_unit_of_work()
        community_id, elder_phone = community.id, elder.phone
        db.session.remove()

    chunks = threading.Event()
    finished = threading.Event()
    written = [0]

    def wrote(rows: int) -> None:
        written[0] += rows
        chunks.set()

    failures: list[BaseException] = []

    def run_import():
        try:
            with app.app_context():
                from app.people import org

                record, _plan = residents_import.check(
                    csv_of(5000),
                    org.community_by_id(community_id),
                    may_move=False,
                    actor=None,
                    file_name="big.csv",
                    now=app.config["LINLI_CLOCK"](),
                )
                commit_unit_of_work()
                residents_import.run(
                    record,
                    skip_bad=False,
                    now=app.config["LINLI_CLOCK"](),
                    actor=None,
                    source="test",
                    checkpoint=commit_chunk,
                    progress=wrote,
                )
                db.session.remove()
        except BaseException as exc:  # reported by the test below
            failures.append(exc)
        finally:
            finished.set()

    importer = threading.Thread(target=run_import)
    importer.start()
    try:
        assert chunks.wait(120), failures
        from tests.test_chat_sms import text

        answers = []
        client = app.test_client()
        for _ in range(3):
            started = time.perf_counter()
            response = text(client, elder_phone, "积分")
            seconds = time.perf_counter() - started
            answers.append((response.status_code, written[0], response.text))
            print(f"text answered in {seconds:.2f} s with {written[0]} of 5000 rows written")
        importer.join(300)
    finally:
        importer.join(300)
    assert not failures, failures
    assert [status for status, _done, _body in answers] == [200, 200, 200]
    # Answered while the import still had rows to write (what one long transaction, the
    # import as it was, cannot let happen).
    assert answers[0][1] < 5000, "the import had written everything before the text"
    assert all("王奶奶" in body for _s, _d, body in answers)
    with app.app_context():
        count = residents_of(db, community_id)
        db.session.remove()
    assert count == 5001
    assert DB_KIND == "sqlite"


# Photos kept as files before migration 0019 are copied into the database by it.
MIGRATION_PROBE = """
import os, sys
from pathlib import Path
from flask_migrate import upgrade
from app import create_app
from app.core.extensions import db
from app.models import Merchant, StoredFile
app = create_app()
folder = Path(app.config["UPLOAD_FOLDER"]) / "merchants"
folder.mkdir(parents=True)
(folder / "1-0123456789abcdef.jpg").write_bytes(b"a photo from before")
with app.app_context():
    upgrade(revision="0018")
    db.session.add(Merchant(name="老张理发店", tier="street", category="理发",
                            photo="1-0123456789abcdef.jpg"))
    db.session.add(Merchant(name="没照片的店", tier="street", category="理发",
                            photo="2-0123456789abcdef.jpg"))  # its file is missing
    db.session.commit()
    upgrade()
    rows = db.session.query(StoredFile.kind, StoredFile.name, StoredFile.data).all()
    print(rows)
"""


@pytest.mark.once
def test_the_migration_copies_photos_from_the_upload_folder_into_the_database(tmp_path):
    import os
    import subprocess
    import sys

    from tests.servers import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINLI_", "DATABASE_URL"))}
    env.update(
        {
            "LINLI_INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'old.sqlite3'}",
        }
    )
    out = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", MIGRATION_PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == (
        "[('merchant-photo', '1-0123456789abcdef.jpg', b'a photo from before')]"
    )

"""The flask commands: each does its job, or says what is wrong, exits 1 and writes nothing."""

import pytest
import sqlalchemy as sa

from app import demo
from app.models import Account, LedgerTransaction, Person
from app.people import people
from app.points import ledger
from tests.conftest import NOW


@pytest.fixture
def cli(app, db):
    runner = app.test_cli_runner()

    def invoke(*args, **kwargs):
        # Like a real command, it starts on committed data, so its rollback undoes only itself.
        db.session.commit()
        return runner.invoke(args=list(args), catch_exceptions=False, **kwargs)

    return invoke


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_create_community_and_refuse_a_duplicate(cli):
    result = cli("create-community", "阳光社区", "--budget", "5000")
    assert result.exit_code == 0, result.output
    assert "已创建社区“阳光社区”" in result.output
    again = cli("create-community", "阳光社区")
    assert again.exit_code == 1
    assert "已有名为“阳光社区”的社区" in again.output


def test_create_user_for_each_role(cli, db):
    cli("create-community", "阳光社区")
    result = cli(
        "create-user",
        "--role",
        "staff",
        "--name",
        "李社工",
        "--phone",
        "139 0000 0010",
        "--community",
        "阳光社区",
        "--password",
        "a-long-password",
        "--login",
        "li",
    )
    assert result.exit_code == 0, result.output
    staff = people.authenticate("li", "a-long-password", now=NOW)
    assert staff is not None and staff.phone == "+8613900000010"
    assert staff.password_hash.startswith(("scrypt:", "pbkdf2:"))
    bad = [
        "--role staff --name x --phone 123 --community 阳光社区 --password a-long-password",
        "--role staff --name x --phone 13900000011 --community 无此社区 --password a-long-password",
        "--role staff --name x --phone 13900000011 --community 阳光社区 --password short1",
        "--role merchant --name x --phone 13900000011 --merchant 无此商家 --password long-pass",
        "--role staff --name x --phone 13900000011 --password a-long-password",
    ]
    for args in bad:
        result = cli("create-user", *args.split())
        assert result.exit_code != 0, (args, result.output)
        assert "Error" in result.output
    assert count(db, Person) == 1


def test_create_user_never_silently_resets_a_password(cli, db):
    cli("create-community", "阳光社区")
    first = (
        "--role staff --name 李社工 --phone 13900000010 --community 阳光社区 --password first-pass"
    )
    assert cli("create-user", *first.split()).exit_code == 0
    again = "--role admin --name 李社工 --phone 13900000010 --password second-pass"
    refused = cli("create-user", *again.split())
    assert refused.exit_code == 1 and "--reset-password" in refused.output
    person = people.find_by_phone("13900000010")
    db.session.refresh(person)
    assert not person.has_role("admin")  # nothing changed
    assert people.authenticate("13900000010", "first-pass", now=NOW) is not None
    reset = cli("create-user", *again.split(), "--reset-password")
    assert reset.exit_code == 0, reset.output
    assert people.authenticate("13900000010", "second-pass", now=NOW) is not None


def test_create_merchant_then_its_operator(cli, db):
    from app.models import Merchant
    from app.partners import partners

    cli("create-community", "阳光社区")
    cli("create-community", "和平社区")
    made = cli(
        "create-merchant",
        "老王面馆",
        "--tier",
        "community",
        "--community",
        "阳光社区",
        "--category",
        "餐饮",
        "--address",
        "幸福路8号",
    )
    assert made.exit_code == 0, made.output
    assert "已创建红色合伙人“老王面馆”" in made.output and "阳光社区" in made.output
    street = cli("create-merchant", "惠民超市", "--tier", "street", "--category", "超市")
    assert street.exit_code == 0, street.output
    assert sorted(c.name for c in partners.find_by_name("惠民超市").communities) == [
        "和平社区",
        "阳光社区",
    ]
    operator = cli(
        "create-user",
        "--role",
        "merchant",
        "--name",
        "王老板",
        "--phone",
        "13900000020",
        "--merchant",
        "老王面馆",
        "--password",
        "noodles-2026",
    )
    assert operator.exit_code == 0, operator.output
    bad = [
        ["老王面馆", "--tier", "community", "--community", "阳光社区"],  # the name is taken
        ["新店", "--tier", "community"],  # no community
        ["新店", "--tier", "community", "--community", "无此社区"],
        ["新店", "--tier", "street", "--community", "阳光社区"],
        ["新店", "--tier", "city"],
        ["  ", "--tier", "street"],
        ["新店", "--tier", "street", "--category", "类" * 31],
    ]
    for args in bad:
        result = cli("create-merchant", *args)
        assert result.exit_code != 0, (args, result.output)
        assert "Error" in result.output
    assert count(db, Merchant) == 2


def test_award_and_balance(cli, make_volunteer, db):
    make_volunteer(name="张明", phone="13800138000")
    result = cli("award", "138 0013 8000", "25", "--reason", "助老服务", "--key", "k1")
    assert result.exit_code == 0, result.output
    assert "已向 张明 发放 25 积分" in result.output
    repeat = cli("award", "+8613800138000", "25", "--reason", "助老服务", "--key", "k1")
    assert repeat.exit_code == 0
    assert "未重复发放" in repeat.output
    balance = cli("balance", "13800138000")
    assert balance.exit_code == 0
    assert "余额：25 积分" in balance.output
    assert "本月获得：" in balance.output
    assert "已认证服务时长：0 小时 0 分钟（0★）" in balance.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("13800138000", "0", "--reason", "x"), "大于零的整数"),
        (("13800138000", "-5", "--reason", "x"), "大于零的整数"),
        (("13800138000", "2.5", "--reason", "x"), "“2.5”"),
        (("13800138000", "10", "--reason", "  "), "请填写原因"),
        (("1380013", "10", "--reason", "x"), "不是有效的电话号码"),
        (("13900139999", "10", "--reason", "x"), "没有用这个手机号登记的人"),
    ],
)
def test_award_refuses_bad_input_and_writes_nothing(cli, make_volunteer, db, args, message):
    make_volunteer(phone="13800138000")
    before = count(db, LedgerTransaction)
    result = cli("award", *args)
    assert result.exit_code == 1
    assert message in result.output
    assert count(db, LedgerTransaction) == before


def test_award_past_the_budget_needs_the_flag(cli, make_community, make_volunteer, db):
    community = make_community(budget=50)
    make_volunteer(community=community, phone="13800138000")
    result = cli("award", "13800138000", "60", "--reason", "大型活动")
    assert result.exit_code == 1
    assert "预算" in result.output
    result = cli("award", "13800138000", "60", "--reason", "大型活动", "--over-budget")
    assert result.exit_code == 0, result.output


def test_import_residents_dry_run_then_commit(cli, make_community, db, tmp_path):
    make_community("阳光社区")
    csv = tmp_path / "residents.csv"
    csv.write_bytes(
        "手机号,姓名,楼栋,单元,房号,标签\n13800138000,张明,3号楼,2单元,301,党员\n"
        "139 0013 9000,李娜,3号楼,2单元,302,\n".encode("gb18030")
    )
    dry = cli("import-residents", str(csv), "--community", "阳光社区")
    assert dry.exit_code == 0, dry.output
    assert "新增 2 人" in dry.output and "试运行" in dry.output
    assert count(db, Person) == 0
    done = cli("import-residents", str(csv), "--community", "阳光社区", "--commit")
    assert done.exit_code == 0, done.output
    assert "新建或更新 2 人" in done.output
    assert count(db, Person) == 2


def test_import_with_bad_rows_writes_nothing_unless_told(cli, make_community, db, tmp_path):
    make_community("阳光社区")
    csv = tmp_path / "residents.csv"
    csv.write_text("phone,name\n13800138000,张明\n12345,李娜\n13900139000,\n", encoding="utf-8")
    result = cli("import-residents", str(csv), "--community", "阳光社区", "--commit")
    assert result.exit_code == 1
    assert "第 3 行 [phone]" in result.output
    assert "第 4 行 [name]" in result.output
    assert "未导入任何数据" in result.output
    assert count(db, Person) == 0
    skipped = cli("import-residents", str(csv), "--community", "阳光社区", "--commit", "--skip-bad")
    assert skipped.exit_code == 0, skipped.output
    assert count(db, Person) == 1
    unknown = cli("import-residents", str(csv), "--community", "无此社区")
    assert unknown.exit_code == 1 and "没有名为“无此社区”的社区" in unknown.output


def test_ledger_check_passes_and_reports_damage(cli, make_volunteer, db):
    person = make_volunteer(points=40)
    assert cli("ledger-check").exit_code == 0
    wallet = ledger.wallet_for(person)
    db.session.execute(sa.update(Account).where(Account.id == wallet.id).values(balance=41))
    result = cli("ledger-check")
    assert result.exit_code == 1
    assert f"account #{wallet.id} (wallet): cached balance 41, entries sum to 40" in result.output


def test_seed_demo_builds_a_clean_street_once(app, cli, db):
    result = cli("seed-demo")
    assert result.exit_code == 0, result.output
    assert count(db, Person) > 300
    assert len(demo.DEMO_LOGINS) == 5
    for _who, login, password in demo.DEMO_LOGINS:
        assert people.authenticate(login, password, now=NOW) is not None
    volunteer = people.get_by_phone(demo.DEMO_VOLUNTEER_PHONE)
    assert ledger.balance(ledger.wallet_for(volunteer)) > 0
    assert cli("ledger-check").exit_code == 0
    assert cli("seed-demo", "--if-empty").exit_code == 0
    assert cli("seed-demo").exit_code == 1
    app.config["DEMO_MODE"] = False
    try:
        assert "生产环境不加载演示数据" in cli("seed-demo").output
    finally:
        app.config["DEMO_MODE"] = True


def test_close_attendances_and_send_messages(
    cli, db, app, app_clock, make_activity, make_volunteer
):
    from app.activities import attendance
    from app.channels import outbox

    activity = make_activity(hours=1)
    volunteer = make_volunteer(community=activity.community)
    attendance.check_in(activity, volunteer, now=app_clock())
    app_clock.advance(hours=1, minutes=app.config["ATTENDANCE_GRACE_MINUTES"] + 1)
    result = cli("close-attendances")
    assert result.exit_code == 0 and "已关闭 1 条" in result.output
    assert attendance.attendance_of(activity, volunteer).unverified

    message = outbox.queue(phone="+8613800138099", kind="test", body="hi", now=app_clock())
    app.extensions.pop("linli_sms_sender", None)
    result = cli("outbox", "send")
    assert result.exit_code == 0 and "已发送 1 条" in result.output
    assert message.status == "shown"
    assert cli("outbox", "send").output.startswith("已发送 0 条")


def test_purge_deletes_what_outlived_its_retention_and_nothing_to_send(
    cli, db, make_volunteer, now
):
    from datetime import timedelta

    from app.models import InboundMessage, OutboxMessage

    person = make_volunteer()
    old, recent = now - timedelta(days=91), now - timedelta(days=89)

    def message(status: str, created_at):
        db.session.add(
            OutboxMessage(
                person_id=person.id,
                channel="sms",
                recipient=person.phone,
                kind="notice",
                body="…",
                status=status,
                next_attempt_at=created_at,
                created_at=created_at,
            )
        )

    for status in ("sent", "shown", "failed"):
        message(status, old)
    message("pending", old)  # still to send: never deleted, however old
    message("sent", recent)
    for external_id, received_at in (("SM-old", old), ("SM-new", recent)):
        db.session.add(
            InboundMessage(
                channel="sms",
                external_id=external_id,
                sender=person.phone,
                received_at=received_at,
            )
        )
    result = cli("purge")
    assert result.exit_code == 0, result.output
    assert "已发送的消息：删除 3 条" in result.output
    assert "收到的消息：删除 1 条" in result.output
    left = db.session.execute(sa.select(OutboxMessage.status, OutboxMessage.created_at)).all()
    assert sorted(status for status, _at in left) == ["pending", "sent"]
    assert db.session.scalars(sa.select(InboundMessage.external_id)).all() == ["SM-new"]
    # The old name still works for crontabs written before.
    assert cli("purge-api-records").exit_code == 0


@pytest.mark.once
def test_a_missing_or_unreachable_database_is_said_in_a_sentence(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    linli = Path(sys.executable).parent / "linli"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINLI_", "DATABASE_URL"))}
    env["LINLI_INSTANCE_PATH"] = str(tmp_path)

    def run(**extra):
        return subprocess.run(  # noqa: S603 (our own command)
            [str(linli), "ledger-check"], env={**env, **extra}, capture_output=True, text=True
        )

    fresh = run()
    assert fresh.returncode == 1 and "Traceback" not in fresh.stderr
    assert "数据库里还没有邻里的表：请先运行 `linli init-db`。" in fresh.stderr
    away = run(DATABASE_URL="postgresql+psycopg://linli:secret-pw@127.0.0.1:1/linli")
    assert away.returncode == 1 and "Traceback" not in away.stderr
    assert "无法连接数据库 postgresql+psycopg://linli:***@127.0.0.1:1/linli" in away.stderr
    assert "secret-pw" not in away.stderr
    wrong = run(LINLI_ENV="prod")
    assert wrong.returncode == 2 and wrong.stderr.startswith("linli: LINLI_ENV='prod'")

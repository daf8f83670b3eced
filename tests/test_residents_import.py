"""CSV import of residents: encodings, headers, bad rows, all-or-nothing."""

import re

import pytest
import sqlalchemy as sa

from app.core.errors import ImportFailed
from app.models import OrgUnit, Person
from app.people import org, people, residents_import
from app.points import ledger

GOOD = (
    "phone,name,grid,building,unit,room,tags\n"
    "13800138000,张明,第一网格,3号楼,2单元,301,党员;志愿者骨干\n"
    "+86 139 0013 9000,李娜,第一网格,3号楼,2单元,302,\n"
)
CHINESE = (
    "手机号,姓名,网格,楼栋,单元,房号,标签\n"
    "１３８００１３８００１,王芳,第二网格,5号楼,1单元,101,党员、退休\n"
)


def test_utf8_gb18030_and_bom_files_read_the_same(make_community):
    community = make_community()
    for data in (
        GOOD.encode("utf-8"),
        GOOD.encode("utf-8-sig"),
        GOOD.encode("gb18030"),
        GOOD.encode("utf-16"),
    ):
        plan = residents_import.plan(data, community, may_move=True)
        assert plan.errors == []
        assert [(r.phone, r.name) for r in plan.rows] == [
            ("+8613800138000", "张明"),
            ("+8613900139000", "李娜"),
        ]
        assert plan.rows[0].tags == ["党员", "志愿者骨干"]


def test_a_big5_file_is_read_as_big5_and_another_encoding_is_named(make_community):
    """GB18030 takes almost any bytes, so a Big5 file used to come out as nonsense and the
    answer was "the header lacks columns"."""
    community = make_community()
    big5 = "手機號,姓名,樓棟\n13800138000,陳小明,5號樓\n".encode("big5")
    plan = residents_import.plan(big5, community, may_move=True)
    assert plan.encoding == "big5" and plan.errors == []
    assert [(r.phone, r.name, r.building) for r in plan.rows] == [
        ("+8613800138000", "陳小明", "5號樓")
    ]
    # Chinese titles that match nothing in any encoding we read: said as an encoding matter.
    korean = "전화,이름\n13800138000,김\n".encode("euc-kr")
    with pytest.raises(ImportFailed, match="CSV UTF-8"):
        residents_import.plan(korean, community, may_move=True)


def test_chinese_headers_and_full_width_digits(make_community, db, now):
    community = make_community()
    plan = residents_import.plan(CHINESE.encode("gb18030"), community, may_move=True)
    assert plan.errors == []
    assert plan.encoding == "gb18030"
    residents_import.apply(plan, community, may_move=True, now=now, actor=None, source="test")
    person = people.get_by_phone("13800138001")
    assert person.name == "王芳"
    assert person.tag_names == ["党员", "退休"]
    household = person.org_unit
    assert (household.kind, household.name) == ("household", "101")
    assert [n.name for n in org.ancestors(household)][1:] == [
        community.name,
        "第二网格",
        "5号楼",
        "1单元",
        "101",
    ]
    assert ledger.find_wallet(person) is not None


def test_bad_rows_are_listed_by_line(make_community):
    community = make_community()
    data = (
        "phone,name\n"
        "13800138000,张明\n"
        "12345,李娜\n"
        "\n"
        "13900139000,\n"
        '"13700137000","王\n芳"\n'
        "13800138000,张明明\n"
        "13600136000,赵" + "很" * 60 + "\n"
    ).encode()
    plan = residents_import.plan(data, community, may_move=True)
    assert [(e.line, e.field) for e in plan.errors] == [
        (3, "phone"),
        (5, "name"),
        (8, "phone"),
        (9, "name"),
    ]
    assert "12345" in plan.errors[0].message
    assert "第 2 行" in plan.errors[2].message
    assert [r.line for r in plan.rows] == [2, 6]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "文件是空的"),
        ("姓名,楼栋\n张明,1\n".encode(), "表头缺少列：phone"),
        (b"\xff\xfe\x00", "不是 UTF-8、GB18030 或 UTF-16"),
        (b"\xef\xbb\xbfphone,name\n\xff", "不是 UTF-8、GB18030 或 UTF-16"),
        (b"phone,name\n\x81\x30\x81", "不是 UTF-8、GB18030 或 UTF-16"),
    ],
)
def test_unreadable_files_are_refused_with_the_reason(make_community, data, message):
    with pytest.raises(ImportFailed, match=re.escape(message)):
        residents_import.plan(data, make_community(), may_move=True)


def test_known_phone_updates_instead_of_duplicating(make_community, make_volunteer, db, now):
    community = make_community()
    person = make_volunteer(community=community, name="张明", phone="13800138000")
    plan = residents_import.plan(GOOD.encode(), community, may_move=True)
    assert [r.action for r in plan.rows] == ["update", "create"]
    changed = residents_import.apply(
        plan, community, may_move=True, now=now, actor=None, source="test"
    )
    assert changed == 2
    count = db.session.scalar(
        sa.select(sa.func.count()).select_from(Person).where(Person.phone == "+8613800138000")
    )
    assert count == 1
    assert person.tag_names == ["党员", "志愿者骨干"]
    assert person.org_unit.name == "301"
    # The same file again changes nothing.
    again = residents_import.plan(GOOD.encode(), community, may_move=True)
    assert (
        residents_import.apply(again, community, may_move=True, now=now, actor=None, source="test")
        == 0
    )


def test_moving_to_another_community_takes_the_wallet_along(
    make_community, make_volunteer, db, now
):
    old, new = make_community(), make_community()
    person = make_volunteer(community=old, phone="13800138000", points=30)
    plan = residents_import.plan(GOOD.encode(), new, may_move=True)
    assert plan.rows[0].action == "move"
    residents_import.apply(plan, new, may_move=True, now=now, actor=None, source="test")
    wallet = ledger.find_wallet(person)
    assert person.community_id == new.id
    assert wallet.community_id == new.id
    assert ledger.balance(wallet) == 30
    assert db.session.get(OrgUnit, person.org_unit_id).community_id == new.id

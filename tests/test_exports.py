"""Every CSV export is safe to open in Excel: no cell starts a formula (issue 14)."""

import csv
import io
from datetime import timedelta

from app.activities import attendance
from app.partners import personal_codes, redemptions
from app.points import awards, deeds, statements
from app.web import spreadsheet_safe
from tests.conftest import csrf_from

EVIL = '=HYPERLINK("http://evil.example/","x")'


def _cells(response) -> list[str]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    text = response.data.decode("utf-8-sig")
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _assert_defused(cells: list[str], *needles: str) -> None:
    for cell in cells:
        if cell[:1] in ("=", "+", "@", "\t", "\r") or (
            cell.startswith("-") and not cell[1:].isdigit()
        ):
            raise AssertionError(f"a live formula in the export: {cell!r}")
    for needle in needles:
        assert any(needle in cell for cell in cells), needle


def test_all_five_exports_defuse_formulas(
    client, db, now, login, make_community, make_user, make_volunteer, make_activity, make_merchant
):
    community = make_community("阳光社区")
    worker = make_user(communities=[community], name="李社工")
    evil = make_volunteer(community=community, name=EVIL, points=0)
    awards.award(
        evil, 40, reason="+1 好事", idempotency_key="a", now=now, actor=worker, source="test"
    )
    activity = make_activity(community=community, title="@SUM(1)", points=5)
    attendance.check_in(activity, evil, now=now)
    attendance.check_out(activity, evil, now=now + timedelta(minutes=90))
    merchant, offer = make_merchant(communities=[community], title="-2+3 理发", points_cost=10)
    operator = make_user("merchant", merchant=merchant, name="店员")
    code = personal_codes.issue(evil, now=now)
    redemptions.redeem(
        ticket=redemptions.start(code.digits, merchant, operator=None, now=now),
        merchant=merchant,
        offer=offer,
        quantity=1,
        operator=operator,
        idempotency_key="r",
        now=now,
    )
    deeds.propose_adjustment(
        evil,
        5,
        reason="=cmd|' /C calc'!A0",
        maker=worker,
        community_ids={community.id},
        idempotency_key="adj",
        now=now,
    )
    statement = statements.generate(community, "2026-11", actor=worker, now=now)
    login(worker)
    _assert_defused(_cells(client.get("/panel/residents.csv")), EVIL)
    _assert_defused(_cells(client.get(f"/panel/activities/{activity.id}/attendances.csv")), EVIL)
    _assert_defused(_cells(client.get("/panel/audit.csv")), "=cmd")
    _assert_defused(_cells(client.get(f"/panel/statements/{statement.id}.csv")), EVIL)
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/panel/").text)})
    login(operator)
    month = now.strftime("%Y-%m")
    shop_csv = _cells(client.get(f"/m/{merchant.id}/statement.csv?month={month}"))
    _assert_defused(shop_csv, "-2+3 理发")


def test_the_defusing_rule():
    assert spreadsheet_safe("=1+1") == "'=1+1"
    assert spreadsheet_safe("@SUM(A1)") == "'@SUM(A1)"
    assert spreadsheet_safe("\tx") == "'\tx" and spreadsheet_safe("\rx") == "'\rx"
    assert spreadsheet_safe("-2+3") == "'-2+3" and spreadsheet_safe("+86 138") == "'+86 138"
    assert spreadsheet_safe(-80) == -80 and spreadsheet_safe(None) is None
    assert spreadsheet_safe("张明") == "张明"


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims to be width × height (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_decoding(
    client, db, login, make_community, make_merchant, make_user
):
    community = make_community()
    merchant, _offer = make_merchant(communities=[community])
    login(make_user("merchant", merchant=merchant))
    for side in (13000, 20000):
        page = client.get(f"/m/{merchant.id}/offers/new")
        response = client.post(
            f"/m/{merchant.id}/offers/new",
            data={
                "csrf_token": csrf_from(page.text),
                "title": "炸弹",
                "kind": "service",
                "points_cost": "50",
                "max_quantity": "1",
                "active": "y",
                "photo": (io.BytesIO(_png_header_only(side, side)), "bomb.png"),
            },
            content_type="multipart/form-data",
        )
        assert response.status_code == 200 and "2500 万像素" in response.text
    assert [o.title for o in merchant.offers if o.title == "炸弹"] == []

"""Who may call what: every API route × every kind of token, against the intended status.

A new route fails `test_every_route_is_in_the_matrix` until its row is added here."""

import pytest

from app.models import Person
from app.partners import personal_codes
from app.points import needs

ROLES = ("anonymous", "volunteer", "merchant", "staff_here", "staff_other", "admin")


@pytest.fixture
def world(
    db, now, app_clock, make_community, make_user, make_volunteer, make_merchant, make_activity, api
):
    here, other = make_community("阳光社区"), make_community("和平社区")
    volunteer = make_volunteer(community=here, name="王芳", points=1000)
    merchant, offer = make_merchant(communities=[here], name="老张理发店")
    callers = {
        "anonymous": api(None),
        "volunteer": api(volunteer),
        "merchant": api(make_user(kind="merchant", merchant=merchant)),
        "staff_here": api(make_user(communities=[here])),
        "staff_other": api(make_user(communities=[other])),
        "admin": api(make_user(kind="admin")),
    }
    activity = make_activity(community=here)
    kind = needs.create_kind(
        None, needs.KindFields(name="帮忙", points=5, step_hours=24), actor=volunteer, now=now
    )
    # One redemption to void.
    code = personal_codes.issue(volunteer, now=now).digits
    sale = callers["merchant"].post("/redemptions", {"code": code, "offer_id": offer.id})
    assert sale.status_code == 201, sale.text
    return {
        "here": here,
        "volunteer": volunteer,
        "merchant": merchant,
        "offer": offer,
        "activity": activity,
        "redemption": sale.get_json()["id"],
        "callers": callers,
        "now": now,
        "kind": kind,
        "make_resident": lambda: make_volunteer(community=here, name="求助人"),
    }


def _fresh_code(w) -> str:
    return personal_codes.issue(w["volunteer"], now=w["now"]).digits


def _need(w, stage: str = "open") -> int:
    """A fresh resident's request, taken by the world's volunteer and carried to `stage`."""
    resident = w["make_resident"]()
    need = needs.post(resident, "矩阵求助", kind=w["kind"], now=w["now"], source="test")
    if stage != "open":
        needs.take(need, w["volunteer"], now=w["now"], source="test")
    if stage in ("done", "confirmed"):
        needs.done(need, w["volunteer"], now=w["now"], source="test")
    if stage == "confirmed":
        needs.confirm(need, resident, now=w["now"], source="test")
    return need.id


def _need_step(action: str, stage: str, statuses: tuple, body=None):
    return (lambda w: (f"/needs/{_need(w, stage)}/{action}", body or {}), statuses)


# (method, rule) → (path and body from the world, statuses in ROLES order)
MATRIX = {
    ("GET", "/api/v1/people"): (
        lambda w: (f"/people?phone={w['volunteer'].phone.replace('+', '%2B')}", None),
        (401, 403, 403, 200, 404, 200),
    ),
    ("GET", "/api/v1/people/<int:person_id>"): (
        lambda w: (f"/people/{w['volunteer'].id}", None),
        (401, 403, 403, 200, 404, 200),
    ),
    ("POST", "/api/v1/awards"): (
        lambda w: ("/awards", {"person_id": w["volunteer"].id, "points": 1, "reason": "矩阵"}),
        (401, 403, 403, 201, 404, 201),
    ),
    ("POST", "/api/v1/adjustments"): (
        lambda w: ("/adjustments", {"person_id": w["volunteer"].id, "points": 1, "reason": "矩阵"}),
        (401, 403, 403, 201, 404, 201),
    ),
    ("GET", "/api/v1/ledger"): (
        lambda w: (f"/ledger?person_id={w['volunteer'].id}", None),
        (401, 200, 403, 200, 404, 200),
    ),
    ("GET", "/api/v1/activities"): (
        lambda w: ("/activities", None),
        (401, 200, 403, 200, 200, 200),
    ),
    ("POST", "/api/v1/activities"): (
        lambda w: (
            "/activities",
            {
                "community_id": w["here"].id,
                "title": "矩阵活动",
                "starts_at": "2026-12-01T09:00:00+08:00",
                "ends_at": "2026-12-01T11:00:00+08:00",
            },
        ),
        (401, 403, 403, 201, 404, 201),
    ),
    ("POST", "/api/v1/activities/<int:activity_id>/attendances"): (
        lambda w: (f"/activities/{w['activity'].id}/attendances", {"person_id": w["volunteer"].id}),
        (401, 403, 403, 201, 404, 200),  # the administrator finds them already checked in
    ),
    ("GET", "/api/v1/activities/<int:activity_id>/checkin-code"): (
        lambda w: (f"/activities/{w['activity'].id}/checkin-code", None),
        (401, 403, 403, 200, 404, 200),
    ),
    ("GET", "/api/v1/offers"): (
        lambda w: ("/offers", None),
        (401, 403, 200, 200, 200, 200),  # staff elsewhere: their (empty) list
    ),
    ("POST", "/api/v1/offers"): (
        lambda w: (
            "/offers",
            {"merchant_id": w["merchant"].id, "title": "洗头", "kind": "service", "points_cost": 5},
        ),
        (401, 403, 201, 201, 404, 201),
    ),
    ("GET", "/api/v1/redemptions"): (
        lambda w: ("/redemptions", None),
        (401, 403, 200, 200, 200, 200),  # staff elsewhere: their (empty) list
    ),
    ("POST", "/api/v1/redemptions"): (
        lambda w: ("/redemptions", {"code": _fresh_code(w), "offer_id": w["offer"].id}),
        (401, 403, 201, 403, 403, 403),
    ),
    ("POST", "/api/v1/redemptions/<int:redemption_id>/void"): (
        lambda w: (f"/redemptions/{w['redemption']}/void", {"reason": "矩阵"}),
        (401, 403, 200, 200, 404, 200),
    ),
    ("POST", "/api/v1/me/redemption-code"): (
        lambda w: ("/me/redemption-code", None),
        (401, 201, 403, 403, 403, 403),
    ),
    ("GET", "/api/v1/rankings"): (
        lambda w: (f"/rankings?scope=community:{w['here'].id}", None),
        (401, 200, 200, 200, 200, 200),
    ),
    ("GET", "/api/v1/need-kinds"): (
        lambda w: ("/need-kinds", None),
        (401, 200, 403, 200, 200, 200),
    ),
    ("GET", "/api/v1/needs"): (
        lambda w: ("/needs", None),
        (401, 200, 403, 200, 200, 200),  # staff elsewhere: their (empty) list
    ),
    ("POST", "/api/v1/needs"): (
        lambda w: ("/needs", {"text": "矩阵求助", "phone": w["make_resident"]().phone}),
        (401, 404, 403, 201, 404, 201),  # a volunteer may not post for a neighbour
    ),
    ("GET", "/api/v1/needs/<int:need_id>"): (
        lambda w: (f"/needs/{_need(w)}", None),
        (401, 200, 403, 200, 404, 200),
    ),
    # Staff take nothing (they assign); only the taker gives back or marks done; only the
    # resident (none of these) confirms, disputes, rates or withdraws.
    ("POST", "/api/v1/needs/<int:need_id>/take"): _need_step(
        "take", "open", (401, 200, 403, 422, 404, 422)
    ),
    ("POST", "/api/v1/needs/<int:need_id>/release"): _need_step(
        "release", "taken", (401, 200, 403, 403, 404, 403)
    ),
    ("POST", "/api/v1/needs/<int:need_id>/done"): _need_step(
        "done", "taken", (401, 200, 403, 403, 404, 403)
    ),
    ("POST", "/api/v1/needs/<int:need_id>/confirm"): _need_step(
        "confirm",
        "done",
        (401, 403, 403, 422, 404, 422),  # staff: not before the days pass
    ),
    ("POST", "/api/v1/needs/<int:need_id>/dispute"): _need_step(
        "dispute", "done", (401, 403, 403, 403, 404, 403), {"note": "没修好"}
    ),
    ("POST", "/api/v1/needs/<int:need_id>/rate"): _need_step(
        "rate", "confirmed", (401, 403, 403, 403, 404, 403), {"rating": 5}
    ),
    ("POST", "/api/v1/needs/<int:need_id>/withdraw"): _need_step(
        "withdraw", "open", (401, 403, 403, 403, 404, 403)
    ),
    ("GET", "/api/v1/openapi.json"): (
        lambda w: ("/openapi.json", None),
        (200, 200, 200, 200, 200, 200),
    ),
}


def test_every_route_is_in_the_matrix(app):
    routes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == set(MATRIX)


def test_each_token_gets_exactly_the_intended_status(db, world):
    wrong = []
    for (method, rule), (build, expected) in MATRIX.items():
        for role, status in zip(ROLES, expected, strict=True):
            path, body = build(world)
            caller = world["callers"][role]
            if method == "GET":
                response = caller.client.get(f"/api/v1{path}", headers=caller._headers(False))
            else:
                response = caller.post(path, body)
            if response.status_code != status:
                wrong.append(f"{method} {rule} as {role}: {response.status_code}, not {status}")
    assert wrong == []
    assert db.session.get(Person, world["volunteer"].id) is not None

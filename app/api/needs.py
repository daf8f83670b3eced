"""Needs (需求): list them, ask for help, and each step of one — take, give back, done,
confirm, dispute, rate, withdraw — as the phone pages and the text commands do."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort
from flask_babel import lazy_gettext as _l

from app.api import bp
from app.api.base import (
    caller,
    describe,
    dump,
    is_staff,
    keyset,
    load_body,
    load_query,
    staff_scope,
)
from app.api.idempotency import idempotent
from app.api.schemas import (
    NeedIn,
    NeedKindList,
    NeedOut,
    NeedPage,
    NeedQuery,
    NeedRatingIn,
    NeedStepIn,
)
from app.core import clock
from app.core.errors import NotFound, NotPermitted
from app.core.text import mask_name
from app.models import Need, Person
from app.people import people
from app.points import needs


def _out(need: Need, viewer: Person) -> dict:
    close = needs.close_to(viewer, need)
    taker = need.taker
    return {
        "id": need.id,
        "community_id": need.community_id,
        "kind_id": need.kind_id,
        "kind": need.kind.name,
        "text": need.text,
        "place": needs.where(need, viewer),
        "grid_id": need.grid_id,
        "status": need.status,
        "step": need.step,
        "step_due_at": need.step_due_at,
        "mine": need.resident_id == viewer.id,
        "taken_by_me": need.taker_id == viewer.id,
        "taker_name": None if taker is None else (taker.name if close else mask_name(taker.name)),
        "points": need.kind.points,
        "paid": need.transaction_id is not None,
        "rating": need.rating,
        "created_at": need.created_at,
        "done_at": need.done_at,
    }


def _caller() -> Person:
    """Staff, or a resident of a community; 403 for a token of anyone else (a shop's)."""
    person = caller()
    if person.community_id is None and not is_staff(person):
        abort(403)
    return person


@bp.get("/need-kinds")
@describe(
    _l("The kinds of request the caller's community takes"),
    who=_l("volunteer, staff"),
    answer=NeedKindList,
)
def need_kinds():
    person = _caller()
    scope = staff_scope() if is_staff(person) else {person.community_id or 0}
    items = [
        {"id": k.id, "name": k.name, "points": k.points, "step_hours": k.step_hours}
        for k in needs.kinds_for(scope, active_only=True)
    ]
    return dump(NeedKindList, {"items": items})


@bp.get("/needs")
@describe(
    _l("Requests, newest first: to take, one's own, taken, or (staff) to triage"),
    who=_l("volunteer, staff"),
    query=NeedQuery,
    answer=NeedPage,
)
def need_list():
    query = load_query(NeedQuery)
    person = _caller()
    select = sa.select(Need)
    view = query.get("view") or ("staff" if is_staff(person) else "open")
    if view == "staff":
        scope = staff_scope()
        if scope is not None:
            select = select.where(Need.community_id.in_(scope))
        select = select.where(
            Need.status == query["status"] if query.get("status") else Need.status.in_(needs.ACTIVE)
        )
    else:
        if person.community_id is None:
            raise NotFound(_l("You live in no community here."), field="view")
        if view == "mine":
            select = select.where(Need.resident_id == person.id)
        elif view == "taken":
            select = select.where(Need.taker_id == person.id)
        else:
            select = select.where(
                Need.community_id == person.community_id,
                Need.status == "open",
                Need.resident_id != person.id,
            )
            grid = None if query["whole"] else needs.grid_of(person)
            if grid is not None:
                select = select.where(Need.grid_id == grid.id)
        if query.get("status") and view != "open":
            select = select.where(Need.status == query["status"])
    rows, next_cursor = keyset(select, Need.id, query)
    return dump(
        NeedPage, {"items": [_out(row[0], person) for row in rows], "next_cursor": next_cursor}
    )


@bp.post("/needs")
@describe(
    _l("Ask for help (for oneself, or for a resident by phone: staff, or their 三长)"),
    who=_l("volunteer, staff"),
    body=NeedIn,
    answer=NeedOut,
    status=201,
    idempotent=True,
)
@idempotent
def need_create():
    data = load_body(NeedIn)
    poster = _caller()
    resident = people.find_by_phone(data["phone"]) if data["phone"] else poster
    # Whom one may not post for is not told apart from whom there is not.
    if (
        resident is None
        or resident.community_id is None
        or not needs.may_post_for(poster, resident)
    ):
        raise NotFound(_l("Nobody here has this id or phone number."), field="phone")
    if data["kind_id"] is not None:
        kind = needs.get_kind(data["kind_id"], {resident.community_id})
    else:
        kind = needs.kind_for_text(resident.community_id, data["text"])
    need = needs.post(
        resident,
        data["text"],
        kind=kind,
        now=clock.now(),
        source="api",
        posted_by=poster,
        place_note=data["place_note"],
    )
    return dump(NeedOut, _out(need, poster)), 201


def _need(need_id: int) -> Need:
    return needs.get(need_id, _caller())


@bp.get("/needs/<int:need_id>")
@describe(_l("One request"), who=_l("volunteer, staff"), answer=NeedOut)
def need_get(need_id: int):
    return dump(NeedOut, _out(_need(need_id), caller()))


def _step(need_id: int, action: str) -> dict:
    need, person, now = _need(need_id), caller(), clock.now()
    if action == "take":
        needs.take(need, person, now=now, source="api")
    elif action == "release":
        needs.release(need, person, now=now, source="api")
    elif action == "done":
        note = load_body(NeedStepIn)["note"]
        needs.done(need, person, note=note, now=now, source="api")
    elif action == "confirm":
        needs.confirm(need, person, now=now, source="api")
    elif action == "dispute":
        note = load_body(NeedStepIn)["note"]
        needs.dispute(need, person, reason=note, now=now, source="api")
    elif action == "withdraw":
        if person.id != need.resident_id:
            raise NotPermitted(_l("Only the resident may withdraw it."), field="need")
        needs.close(need, actor=person, reason="", now=now)
    return dump(NeedOut, _out(need, person))


def _register(action: str, summary, who, body=None) -> None:
    @describe(summary, who=who, body=body, answer=NeedOut, idempotent=True)
    @idempotent
    def view(need_id: int):
        return _step(need_id, action)

    view.__name__ = f"need_{action}"
    bp.post(f"/needs/<int:need_id>/{action}")(view)


_register(
    "take",
    _l("Take an open request (of two at once, one wins: 422 for the other)"),
    _l("volunteer"),
)
_register("release", _l("Give a request one took back"), _l("volunteer"))
_register(
    "done", _l("Mark a request one took done; the resident is asked"), _l("volunteer"), NeedStepIn
)
_register(
    "confirm",
    _l("Confirm it was done (the resident; staff after the days allowed); the taker is paid once"),
    _l("volunteer, staff"),
)
_register("dispute", _l("Say it is not done (the resident)"), _l("volunteer"), NeedStepIn)
_register("withdraw", _l("Withdraw one's own request while nobody has done it"), _l("volunteer"))


@bp.post("/needs/<int:need_id>/rate")
@describe(
    _l("Rate a confirmed request 1–5, once (the resident)"),
    who=_l("volunteer"),
    body=NeedRatingIn,
    answer=NeedOut,
    idempotent=True,
)
@idempotent
def need_rate(need_id: int):
    need, person = _need(need_id), caller()
    data = load_body(NeedRatingIn)
    needs.rate(need, person, data["rating"], comment=data["comment"], now=clock.now())
    return dump(NeedOut, _out(need, person))

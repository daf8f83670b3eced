"""API v1. Every request carries `Authorization: Bearer <token>`; the token speaks for one
person with that person's permissions. Errors are {"error": {"code", "message", "fields"}}
(the shared error handlers answer JSON under /api/)."""

from __future__ import annotations

from flask import abort, g, jsonify, request
from flask_babel import gettext as _
from marshmallow import RAISE, Schema, ValidationError, fields
from werkzeug.exceptions import Unauthorized

from app import api_tokens, clock, people
from app.api import bp
from app.errors import InvalidInput, LinliError, NotFound
from app.extensions import csrf

csrf.exempt(bp)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class PeopleQuery(_Strict):
    phone = fields.String(required=True)


def _load(schema: Schema, data) -> dict:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise _InvalidFields(exc.messages) from None


class _InvalidFields(InvalidInput):
    """Several fields at once, as marshmallow reports them."""

    def __init__(self, messages: dict):
        super().__init__(_("Some fields are not right."))
        self.messages = {
            k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in messages.items()
        }

    def to_dict(self) -> dict:
        return {"code": self.code, "message": str(self), "fields": self.messages}


@bp.before_request
def bearer_token():
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    person = api_tokens.authenticate(token.strip(), now=clock.now()) if scheme == "Bearer" else None
    if person is None:
        raise Unauthorized()
    g.api_person = person


def _staff_scope():
    person = g.api_person
    if not (person.has_role("staff") or person.has_role("admin")):
        abort(403)
    return people.visible_community_ids(person)


def _person_json(person) -> dict:
    summary = people.summary(person, clock.now())
    return {
        "id": person.id,
        "name": person.name,
        "phone": person.phone,
        "community_id": person.community_id,
        "balance": summary.balance,
        "earned_this_month": summary.earned_this_month,
        "verified_minutes": summary.verified_minutes,
        "star_level": summary.star.stars,
    }


def _visible_person(person, scope):
    if (
        person is None
        or person.community_id is None
        or (scope is not None and person.community_id not in scope)
    ):
        raise NotFound(_("Nobody here has this id or phone number."), field="person")
    return person


@bp.route("/people")
def people_by_phone():
    scope = _staff_scope()
    query = _load(PeopleQuery(), request.args)
    try:
        person = people.find_by_phone(query["phone"])
    except LinliError as exc:
        raise _InvalidFields({"phone": [str(exc)]}) from None
    return jsonify(_person_json(_visible_person(person, scope)))


@bp.route("/people/<int:person_id>")
def person_detail(person_id: int):
    scope = _staff_scope()
    try:
        person = people.get(person_id)
    except NotFound:
        person = None
    return jsonify(_person_json(_visible_person(person, scope)))

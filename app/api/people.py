"""People: staff look residents up by phone or id (within their communities)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.api import bp
from app.api.base import describe, dump, field_error, load_query, staff_scope, visible_person
from app.api.schemas import PeopleQuery, PersonOut
from app.core import clock
from app.core.errors import LinliError, NotFound
from app.models import Person
from app.people import people


def person_json(person: Person) -> dict:
    summary = people.summary(person, clock.now())
    return dump(
        PersonOut,
        {
            "id": person.id,
            "name": person.name,
            "phone": person.phone,
            "community_id": person.community_id,
            "balance": summary.balance,
            "earned_this_month": summary.earned_this_month,
            "verified_minutes": summary.verified_minutes,
            "star_level": summary.star.stars,
        },
    )


def find_person(data: dict, scope: set[int] | None) -> Person:
    """The person a body names by `person_id` or `phone`, if the caller may see them."""
    if data.get("person_id") is not None:
        try:
            person = people.get(data["person_id"])
        except NotFound:
            person = None
    else:
        try:
            person = people.find_by_phone(data["phone"])
        except LinliError as exc:
            raise field_error("phone", str(exc)) from None
    return visible_person(person, scope)


@bp.get("/people")
@describe(
    _l("Find a resident by mobile number"), who=_l("staff"), query=PeopleQuery, answer=PersonOut
)
def people_by_phone():
    scope = staff_scope()
    query = load_query(PeopleQuery)
    return person_json(find_person({"phone": query["phone"]}, scope))


@bp.get("/people/<int:person_id>")
@describe(
    _l("A resident: balance, points this month, hours, star level"),
    who=_l("staff"),
    answer=PersonOut,
)
def person_detail(person_id: int):
    scope = staff_scope()
    return person_json(find_person({"person_id": person_id}, scope))

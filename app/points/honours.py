"""Honours (社区好人, 最美三长, 活力小哥, 星级老哥 … a configurable list) for a month or a year."""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.channels import outbox
from app.core import audit
from app.core.errors import InvalidInput, NotPermitted
from app.core.extensions import db
from app.models import Honour, Person

_PERIOD = re.compile(r"^\d{4}(-(0[1-9]|1[0-2]))?$")


def titles() -> list[str]:
    return list(current_app.config["HONOURS"])


def grant(
    person: Person,
    title: str,
    period: str,
    *,
    reason: str,
    actor: Person,
    community_ids: set[int] | None,
    now: datetime,
) -> Honour:
    """Give an honour for a month (2026-11) or a year (2026); giving it twice changes nothing."""
    if title not in titles():
        raise InvalidInput(_l("Choose one of the honours."), field="title")
    period = (period or "").strip()
    if not _PERIOD.match(period):
        raise InvalidInput(_l("A month is written 2026-11, a year 2026."), field="period")
    if person.community_id is None or (
        community_ids is not None and person.community_id not in community_ids
    ):
        raise NotPermitted(_l("This person lives outside your communities."), field="person")
    found = db.session.scalar(
        sa.select(Honour).filter_by(person_id=person.id, title=title, period=period)
    )
    if found is not None:
        return found
    honour = Honour(
        person_id=person.id,
        title=title,
        period=period,
        reason=" ".join((reason or "").split())[:200],
        granted_by_id=actor.id,
        created_at=now,
    )
    db.session.add(honour)
    db.session.flush()
    audit.record(
        "person.honour",
        person,
        actor=actor,
        source="panel",
        now=now,
        after={"title": title, "period": period},
        reason=honour.reason,
    )
    with force_locale(person.locale):
        body = _("Congratulations! You are %(title)s of %(period)s.", title=title, period=period)
    outbox.queue(person=person, kind="honour", body=body, now=now)
    return honour


def of(person: Person) -> list[Honour]:
    return list(
        db.session.scalars(
            sa.select(Honour).filter_by(person_id=person.id).order_by(Honour.period.desc())
        )
    )


def for_people(person_ids: list[int], periods: list[str]) -> dict[int, list[str]]:
    """Honour titles of these people in these periods (for boards and statements)."""
    found: dict[int, list[str]] = {}
    if not person_ids or not periods:  # no honour is for all time
        return found
    for person_id, title in db.session.execute(
        sa.select(Honour.person_id, Honour.title).where(
            Honour.person_id.in_(person_ids), Honour.period.in_(periods)
        )
    ):
        found.setdefault(person_id, []).append(title)
    return found

"""Good deeds residents report themselves (好人好事): by text (`好人好事 …`) or on the phone,
reviewed by staff of their community, who award them under a deed rule (its limits, its
evidence rule and the budget apply, through `deeds.award_many`) or decline them with a
reason the resident is told. A report is decided once: two staff deciding at once, one
wins. Several reports by one person on one day are flagged for the reviewer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import aliased

from app.channels import outbox
from app.core import audit, clock, files
from app.core.errors import BusinessRuleError, NotFound, NotPermitted
from app.core.extensions import db
from app.core.text import one_line
from app.models import DeedReport, DeedRule, Person
from app.models.base import table_of
from app.points import deeds

MAX_TEXT = 300


def report(
    person: Person, text: str, *, now: datetime, source: str, photo: bytes | None = None
) -> DeedReport:
    """The resident's report, waiting for staff; `photo` a JPEG the edge has checked and
    re-encoded (`offers.prepare_photo`), kept for the community's staff to see."""
    if person.community_id is None:
        raise NotPermitted(_l("Only a resident of a community can report a good deed."))
    text = one_line(
        text,
        field="text",
        max_length=MAX_TEXT,
        required=_l("Say what was done, for whom, and where."),
        too_long=_l("The report is longer than %(max)s characters."),
    )
    found = DeedReport(
        person_id=person.id,
        community_id=person.community_id,
        text=text,
        day=clock.local(now, person.community).strftime("%Y-%m-%d"),
        source=source,
        status="pending",
        decline_reason="",
        created_at=now,
    )
    if photo:
        found.photo = files.replace_photo("deed-photo", person.id, None, photo, now=now)
    db.session.add(found)
    db.session.flush()
    audit.record("deed_report.create", found, actor=person, source=source, now=now)
    return found


@dataclass(frozen=True)
class Waiting:
    report: DeedReport
    same_day: int  # reports by the same person on the same day, this one included


def pending_query(community_ids: set[int] | None) -> sa.Select:
    """The reports waiting for staff of these communities (the panel home counts them)."""
    query = sa.select(DeedReport.id).where(DeedReport.status == "pending")
    if community_ids is not None:
        query = query.where(DeedReport.community_id.in_(community_ids))
    return query


def pending(community_ids: set[int] | None) -> list[Waiting]:
    """Reports waiting for staff of these communities, oldest first, each with how many
    its author made that day."""
    other = aliased(DeedReport)
    same_day = (
        sa.select(sa.func.count())
        .select_from(other)
        .where(other.person_id == DeedReport.person_id, other.day == DeedReport.day)
        .scalar_subquery()
    )
    query = (
        sa.select(DeedReport, same_day)
        .where(DeedReport.status == "pending")
        .order_by(DeedReport.created_at, DeedReport.id)
    )
    if community_ids is not None:
        query = query.where(DeedReport.community_id.in_(community_ids))
    return [Waiting(r, n) for r, n in db.session.execute(query)]


def get(report_id: int, community_ids: set[int] | None) -> DeedReport:
    found = db.session.get(DeedReport, report_id)
    if found is None or (community_ids is not None and found.community_id not in community_ids):
        raise NotFound(_l("There is no such report."), field="report")
    return found


def _claim(found: DeedReport, status: str, actor: Person, now: datetime) -> None:
    """Take the report from pending in one conditional UPDATE: of two staff deciding at
    once, the second finds it decided."""
    table = table_of(DeedReport)
    taken = db.session.execute(
        sa.update(table)
        .where(table.c.id == found.id, table.c.status == "pending")
        .values(status=status, decided_by_id=actor.id, decided_at=now)
        .returning(table.c.id)
    ).first()
    if taken is None:
        raise BusinessRuleError(_l("This report was already decided."), field="report")
    db.session.refresh(found)


def approve(
    found: DeedReport,
    rule: DeedRule,
    *,
    actor: Person,
    community_ids: set[int] | None,
    now: datetime,
) -> DeedReport:
    """Award the report under `rule`: its points post once (the rule's limits apply and a
    refusal leaves the report waiting)."""
    if community_ids is not None and found.community_id not in community_ids:
        raise NotPermitted(_l("This person lives outside your communities."), field="report")
    if rule.community_id not in (None, found.community_id):
        raise NotFound(_l("There is no such rule."), field="rule")
    _claim(found, "approved", actor, now)
    (result,) = deeds.award_many(
        rule,
        [found.person],
        batch_key=f"report-{found.id}",
        note=found.text[:200],
        actor=actor,
        community_ids=community_ids,
        now=now,
    )
    if result.status != "awarded":  # a limit, the budget, the evidence rule: nothing changes
        raise BusinessRuleError(_l("Not awarded: %(why)s"), field="rule", why=result.reason)
    found.rule_id = rule.id
    found.transaction_id = result.transaction_id
    db.session.flush()
    audit.record(
        "deed_report.approve",
        found,
        actor=actor,
        source="panel",
        now=now,
        after={"person_id": found.person_id, "points": rule.points, "rule": rule.title},
    )
    return found


def decline(
    found: DeedReport,
    *,
    reason: str,
    actor: Person,
    community_ids: set[int] | None,
    now: datetime,
) -> DeedReport:
    """Decline the report; the resident is told why."""
    if community_ids is not None and found.community_id not in community_ids:
        raise NotPermitted(_l("This person lives outside your communities."), field="report")
    reason = one_line(
        reason,
        field="reason",
        max_length=200,
        required=_l("Say why it is declined: the resident reads it."),
        too_long=_l("The reason is longer than %(max)s characters."),
    )
    _claim(found, "declined", actor, now)
    found.decline_reason = reason
    db.session.flush()
    outbox.tell(
        found.person,
        "deed_report",
        _l("Linli: the good deed you reported (%(deed)s) was not awarded. Why: %(reason)s"),
        now=now,
        deed=found.text[:40],
        reason=reason,
    )
    audit.record(
        "deed_report.decline",
        found,
        actor=actor,
        source="panel",
        now=now,
        after={"person_id": found.person_id},
        reason=reason,
    )
    return found

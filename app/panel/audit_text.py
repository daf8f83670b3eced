"""The audit log said in sentences in the reader's language ("阳光社区社工 提议为 张明 调整
+300 积分"), for the panel's log and its CSV; the raw record stays one click away.

Each action has one sentence with named places, filled from the event: who did it, the
subject's name, the person it was about, the points, the title, the status. The subjects of
a page of events are loaded together, one query per kind of subject."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core.extensions import Base, db
from app.models import AuditEvent, Person

SENTENCES = {
    "account.password_change": _l("%(who)s changed their password"),
    "account.password_link": _l("%(who)s sent %(subject)s a link to set a password"),
    "account.password_set": _l("%(who)s set their password"),
    "activity.create": _l("%(who)s created the activity %(subject)s"),
    "activity.update": _l("%(who)s changed the activity %(subject)s"),
    "adjustment.approve": _l("%(who)s approved the correction of %(points)s points for %(person)s"),
    "adjustment.propose": _l("%(who)s proposed to correct %(person)s's points by %(points)s"),
    "adjustment.reject": _l("%(who)s rejected the correction of %(points)s points for %(person)s"),
    "api_token.create": _l("%(who)s made the API token %(subject)s"),
    "api_token.revoke": _l("%(who)s revoked the API token %(subject)s"),
    "attendance.approve": _l(
        "%(who)s approved %(person)s's attendance: %(hours)s hours, %(points)s points"
    ),
    "attendance.check_in": _l("%(who)s checked %(person)s in"),
    "attendance.correct": _l("%(who)s corrected the times of %(person)s's attendance"),
    "attendance.reject": _l("%(who)s rejected %(person)s's attendance"),
    "broadcast.send": _l("%(who)s sent a group message to %(subject)s"),
    "community.create": _l("%(who)s created the community %(subject)s"),
    "community.settings": _l("%(who)s changed the settings of %(subject)s"),
    "deed_report.approve": _l(
        "%(who)s awarded the good deed %(person)s reported (%(points)s points)"
    ),
    "deed_report.create": _l("%(who)s reported a good deed"),
    "deduction.create": _l("%(who)s made a deduction of %(points)s points for %(person)s"),
    "deduction.reverse": _l("%(who)s undid a deduction of %(person)s"),
    "party.report": _l("%(who)s recorded the working party member report of %(subject)s"),
    "resource.claim": _l("%(who)s took up the service post %(subject)s"),
    "resource.create": _l("%(who)s added %(subject)s to the resources list"),
    "resource.update": _l("%(who)s changed %(subject)s in the resources list"),
    "need.assign": _l("%(who)s assigned the request %(subject)s"),
    "need.close": _l("%(who)s closed the request %(subject)s"),
    "need.confirm": _l("%(who)s confirmed the request %(subject)s was done"),
    "need.create": _l("%(who)s posted the request %(subject)s"),
    "need.merge": _l("%(who)s merged the request %(subject)s into another"),
    "need.reopen": _l("%(who)s opened the request %(subject)s again"),
    "need.whistle": _l("%(who)s passed the request %(subject)s to a department"),
    "need.take": _l("%(who)s took the request %(subject)s"),
    "need_kind.create": _l("%(who)s added the kind of request %(subject)s"),
    "need_kind.update": _l("%(who)s changed the kind of request %(subject)s"),
    "deed_report.decline": _l("%(who)s declined the good deed %(person)s reported"),
    "deed_rule.create": _l("%(who)s created the deed rule %(subject)s"),
    "deed_rule.update": _l("%(who)s changed the deed rule %(subject)s"),
    "merchant.create": _l("%(who)s added the partner %(subject)s"),
    "merchant.offers_need_approval": _l("%(who)s changed whether %(subject)s's offers need review"),
    "merchant.operator_add": _l("%(who)s made %(person)s an operator of %(subject)s"),
    "merchant.operator_remove": _l("%(who)s removed %(person)s as an operator of %(subject)s"),
    "merchant.update": _l("%(who)s changed the partner %(subject)s"),
    "offer.create": _l("%(who)s added the offer %(subject)s"),
    "offer.review": _l("%(who)s reviewed the offer %(subject)s: %(review)s"),
    "offer.update": _l("%(who)s changed the offer %(subject)s"),
    "org.add": _l("%(who)s added %(subject)s to the organisation tree"),
    "org.delete": _l("%(who)s deleted %(subject)s from the organisation tree"),
    "org.merge": _l("%(who)s merged a node into %(subject)s"),
    "org.move": _l("%(who)s moved %(subject)s in the organisation tree"),
    "org.rename": _l("%(who)s renamed %(subject)s"),
    "person.create": _l("%(who)s registered %(subject)s"),
    "person.honour": _l("%(who)s gave %(subject)s the honour %(title)s"),
    "person.leader_add": _l("%(who)s made %(subject)s a leader (%(role)s)"),
    "person.leader_remove": _l("%(who)s removed %(subject)s as a leader"),
    "person.preferences": _l("%(who)s changed %(subject)s's preferences"),
    "person.update": _l("%(who)s changed %(subject)s's details"),
    "points.award": _l("%(who)s awarded %(person)s %(points)s points"),
    "redemption.create": _l(
        "%(who)s redeemed %(points)s points of %(person)s (receipt %(subject)s)"
    ),
    "redemption.void": _l("%(who)s voided the redemption %(subject)s (%(points)s points back)"),
    "settlement.close": _l("%(who)s closed the settlement of %(subject)s"),
    "staff.activate": _l("%(who)s switched on %(subject)s's staff account"),
    "staff.create": _l("%(who)s made a staff account for %(subject)s"),
    "staff.deactivate": _l("%(who)s switched off %(subject)s's staff account"),
    "staff.make_admin": _l("%(who)s made %(subject)s a street administrator"),
    "staff.scope": _l("%(who)s changed the communities of %(subject)s"),
    "statement.answer": _l("%(who)s answered %(person)s's objection (%(points)s points)"),
    "statement.objection": _l("%(who)s objected to the statement"),
    "statement.publish": _l("%(who)s published the statement %(subject)s"),
    "team.create": _l("%(who)s created the team %(subject)s"),
    "team.leader": _l("%(who)s made %(person)s the leader of %(subject)s"),
    "team.member_add": _l("%(who)s added %(person)s to %(subject)s"),
    "team.member_remove": _l("%(who)s removed %(person)s from %(subject)s"),
    "team.update": _l("%(who)s changed the team %(subject)s"),
    "user.grant_role": _l("%(who)s gave %(subject)s a role"),
}

ROLE_LABELS = {
    "grid_leader": _l("grid leader"),
    "building_leader": _l("building leader"),
    "unit_leader": _l("unit leader"),
}
REVIEW_LABELS = {"live": _l("approved"), "rejected": _l("rejected"), "pending": _l("pending")}

# The log's filter, by what an action is about.
GROUP_LABELS = {
    "points": _l("Points awarded"),
    "person": _l("Residents"),
    "activity": _l("Activities"),
    "attendance": _l("Attendance"),
    "deed_rule": _l("Deed rules"),
    "adjustment": _l("Corrections"),
    "offer": _l("Offers"),
    "merchant": _l("Red partners"),
    "redemption": _l("Redemptions"),
    "need": _l("Requests"),
}


def _models() -> dict[str, Any]:
    return {m.class_.__tablename__: m.class_ for m in Base.registry.mappers}


def _label(subject) -> str:
    """What a person calls the subject: a name, a receipt, a title, whose it is, a month."""
    if subject is None:
        return "—"
    if isinstance(subject, Person):
        return subject.name
    for attribute in ("receipt_no", "name", "title", "target_name"):
        value = getattr(subject, attribute, None)
        if value:
            return str(value)
    person = getattr(subject, "person", None)  # a correction, an attendance, an objection
    if isinstance(person, Person):
        return person.name
    month = getattr(subject, "month", None)
    if month:
        community = getattr(subject, "community", None)
        return f"{community.name} {month}" if community is not None else str(month)
    return f"#{subject.id}"


def _signed(points) -> str:
    return f"{points:+d}" if isinstance(points, int) else "—"


def describe(events: list[AuditEvent]) -> dict[int, str]:
    """Each event's sentence, by event id."""
    models = _models()
    wanted: dict[str, set[int]] = defaultdict(set)
    for event in events:
        if event.subject_type in models and event.subject_id is not None:
            wanted[event.subject_type].add(event.subject_id)
        for key in ("person_id", "operator"):
            value = (event.after or {}).get(key)
            if isinstance(value, int):
                wanted["people"].add(value)
    loaded: dict[tuple[str, int], Any] = {}
    for table, ids in wanted.items():
        model = models[table]
        for row in db.session.scalars(sa.select(model).where(model.id.in_(ids))):
            loaded[(table, row.id)] = row
    return {event.id: _sentence(event, loaded) for event in events}


def _sentence(event: AuditEvent, loaded: dict) -> str:
    after = event.after or {}
    subject = loaded.get((event.subject_type, event.subject_id))
    about = after.get("person_id", after.get("operator"))
    person = loaded.get(("people", about)) if isinstance(about, int) else None
    if person is None:
        person = subject if isinstance(subject, Person) else getattr(subject, "person", None)
    minutes = after.get("minutes")
    places = {
        "who": event.actor.name if event.actor else _("the system"),
        "subject": _label(subject),
        "person": person.name if person is not None else "—",
        "points": _signed(after.get("points")),
        "hours": f"{minutes / 60:.1f}" if isinstance(minutes, int) else "—",
        "title": str(after.get("title", "—")),
        "role": str(ROLE_LABELS.get(str(after.get("role")), after.get("role", "—"))),
        "review": str(REVIEW_LABELS.get(str(after.get("review")), after.get("review", "—"))),
    }
    template = SENTENCES.get(event.action)
    if template is None:  # an action newer than this list: still said, plainly
        return f"{places['who']}: {event.action} {places['subject']}"
    return str(template) % places

"""The audit log in the panel: filter, page through, export. Nothing here can change it."""

import json
from datetime import date

from flask import render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from app.core import audit, clock
from app.forms import day_start
from app.models.base import db_id
from app.panel import audit_text, bp
from app.people import people
from app.web import csv_download, role_required

PAGE = 100


def _day(text: str | None, end: bool = False):
    if not text:
        return None
    try:
        return day_start(date.fromisoformat(text), end=end)
    except ValueError:
        return None


def _filters() -> dict:
    action = request.args.get("action", "")
    return {
        "community_ids": people.visible_community_ids(current_user),
        "action": action if action in audit.ACTION_GROUPS else "",
        "actor_text": request.args.get("actor", "").strip()[:50],
        "since": _day(request.args.get("since")),
        "until": _day(request.args.get("until"), end=True),
    }


@bp.route("/audit")
@role_required("staff", "admin")
def audit_log():
    events = audit.search(
        **_filters(), before_id=request.args.get("before", type=db_id), limit=PAGE
    )
    return render_template(
        "panel/audit.html",
        events=events,
        sentences=audit_text.describe(events),
        groups=audit_text.GROUP_LABELS,
        more=len(events) == PAGE,
        args=request.args,
    )


@bp.route("/audit.csv")
@role_required("staff", "admin")
def audit_csv():
    def rows():
        before = None
        while True:  # page by id so a large export never loads everything at once
            events = audit.search(**_filters(), before_id=before, limit=1000)
            sentences = audit_text.describe(events)
            for event in events:
                yield [
                    clock.local(event.created_at, None).strftime("%Y-%m-%d %H:%M:%S"),
                    sentences[event.id],
                    event.actor.name if event.actor else _("system"),
                    " ".join(filter(None, [event.source, event.ip])),
                    event.action,
                    f"{event.subject_type}#{event.subject_id}",
                    json.dumps(event.before, ensure_ascii=False) if event.before else "",
                    json.dumps(event.after, ensure_ascii=False) if event.after else "",
                    event.reason,
                ]
            if len(events) < 1000:
                return
            before = events[-1].id

    header = [
        _("Time"),
        _("What happened"),
        _("Who"),
        _("From"),
        _("Action"),
        _("Subject"),
        _("Before"),
        _("After"),
        _("Why"),
    ]
    return csv_download("audit-log.csv", header, rows())

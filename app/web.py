"""Helpers every web edge shares: who may see a page."""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Response, abort, current_app, request, url_for
from flask_login import current_user, login_required
from werkzeug.routing import IntegerConverter


def role_required(*roles: str):
    """Signed in and holding one of `roles`; anyone else gets 403."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not any(current_user.has_role(role) for role in roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


# The largest id a row can have on every database (PostgreSQL's INTEGER): a bigger number
# in a URL or a form names nothing, and must not reach the database (SQLite overflows).
MAX_ID = 2**31 - 1


def db_id(value) -> int:
    """A row id typed by anyone, for `request.args.get(..., type=db_id)`: a whole number
    from 1 to MAX_ID, else ValueError (the argument is then taken as missing)."""
    number = int(value)
    if not 0 < number <= MAX_ID:
        raise ValueError("not a row id")
    return number


def db_ids(values: Iterable[str]) -> list[int]:
    """The row ids among typed values (checkboxes, hidden fields); anything else is left out."""
    ids = []
    for value in values:
        try:
            ids.append(db_id(value))
        except ValueError:
            continue
    return ids


class IdConverter(IntegerConverter):
    """<int:…> in routes: ids beyond MAX_ID match no route (a 404, not a 500)."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 (werkzeug's name)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def scan_url(activity, kind: str, now) -> str:
    """What the projector's QR code opens now: the public address phones reach this server at
    (`LINLI_PUBLIC_URL`), else the address this request came to."""
    from app import activities

    path = url_for("volunteers.scan", kind=kind, token=activities.scan_token(activity, kind, now))
    return (current_app.config["PUBLIC_URL"] or request.host_url.rstrip("/")) + path


def home_for(person) -> str:
    """Where a person lands after signing in: staff to the panel, operators to their shop."""
    if person.has_role("staff") or person.has_role("admin"):
        return url_for("panel.index")
    if person.has_role("merchant"):
        return url_for("merchants.index")
    return url_for("volunteers.index")


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: never follow ?next= to another host."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


# A text cell Excel would run as a formula (OWASP "CSV injection"): =, +, -, @, tab, CR.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A cell as it may go into a CSV opened in Excel: text that would start a formula gets
    a leading apostrophe (shown as text); numbers stay numbers (-80 is not a formula)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_download(filename: str, header: list, rows: Iterable[list]) -> Response:
    """A CSV file to download: UTF-8 with a BOM, so Excel shows Chinese correctly; every
    text cell defused against formulas; never kept in a cache."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow([spreadsheet_safe(cell) for cell in header])
    writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f"attachment; filename={filename}",
            "Cache-Control": "no-store",
        },
    )

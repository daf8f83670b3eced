"""Helpers every web edge shares: who may see a page."""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Response, abort, current_app, request, url_for
from flask_login import current_user, login_required


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


def csv_download(filename: str, header: list, rows: Iterable[list]) -> Response:
    """A CSV file to download: UTF-8 with a BOM, so Excel shows Chinese correctly."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        buffer.getvalue(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )

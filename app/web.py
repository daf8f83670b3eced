"""Helpers every web edge shares: who may see a page."""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    got_request_exception,
    jsonify,
    make_response,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import force_locale
from flask_login import current_user, login_required
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, SecurityError
from werkzeug.routing import IntegerConverter

from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError
from app.models.base import MAX_ID

log = logging.getLogger(__name__)


def reads_only(view):
    """A POST that writes nothing (a camera frame read for a QR code): on SQLite it begins
    deferred like a GET, so a busy shop's frames never queue for the write lock."""
    view.linli_reads_only = True
    return view


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


class IdConverter(IntegerConverter):
    """<int:…> in routes: ids beyond MAX_ID match no route (a 404, not a 500)."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 (werkzeug's name)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def private_photo(kind: str, name: str | None) -> Response:
    """A stored photo only the caller's checks let them see (evidence, a resident's
    request): sent with no-store so no cache keeps it; 404 when there is none."""
    from app.core import files

    stored = files.find(kind, name) if name else None
    if stored is None:
        abort(404)
    answer = send_file(io.BytesIO(stored.data), mimetype=stored.content_type)
    answer.headers["Cache-Control"] = "private, no-store"
    return answer


def community_choices(scope: set[int] | None) -> list:
    """Where a worker may put something the street or a community keeps (a kind, a rule, a
    resource): 0, the whole street, for an administrator (scope None); their communities."""
    from flask_babel import gettext

    from app.people import org

    communities = org.communities() if scope is None else [org.community_by_id(c) for c in scope]
    from wtforms import SelectChoice

    street = [SelectChoice(0, gettext("The whole street"))] if scope is None else []
    return street + [SelectChoice(c.id, c.name) for c in communities]


def chosen_community(community_id: int | None, scope: set[int] | None):
    """The community a form chose for something new (None: the street's), refused unless
    the worker may put it there: 403 for the street when not an administrator, 404 for a
    community not theirs."""
    from app.people import org

    community = org.community_by_id(community_id) if community_id else None
    if community is None and scope is not None:
        abort(403)
    if community is not None and scope is not None and community.id not in scope:
        abort(404)
    return community


def public_url(path: str) -> str:
    """An absolute address for `path` as people reach this server: `LINLI_PUBLIC_URL`, else
    the address this request came to."""
    return (current_app.config["PUBLIC_URL"] or request.host_url.rstrip("/")) + path


def set_password_url(token: str) -> str:
    """The one-time set-password link (app.people.accounts) as the person opens it."""
    return public_url(url_for("auth.set_password", token=token))


def scan_url(activity, kind: str, now) -> str:
    """What the projector's QR code opens now: the public address phones reach this server at
    (`LINLI_PUBLIC_URL`), else the address this request came to."""
    from app.activities import scan_codes

    return public_url(
        url_for("volunteers.scan", kind=kind, token=scan_codes.scan_token(activity, kind, now))
    )


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


# --- error pages: JSON for the API, webhooks and JSON clients, HTML otherwise -------------


def _wants_json() -> bool:
    if request.path.startswith(("/api/", "/chat/")) or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and (
        request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def _render(
    status: int,
    code: str,
    message: str,
    fields: dict | None = None,
    template: str = "errors/page.html",
):
    if _wants_json():
        error: dict = {"code": code, "message": message}
        if fields:
            error["fields"] = fields
        body = {"error": error}
        return jsonify(body), status
    return render_template(template, status=status, message=message), status


RETRY_AFTER_SECONDS = 10


def _locale_without_database() -> str:
    """The reader's language from the request alone (the session's choice, the browser's):
    the person's own setting is in the database."""
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if isinstance(chosen, str) and chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or "zh"


def register_error_handlers(app: Flask) -> None:
    from flask_babel import gettext as _

    @app.errorhandler(LinliError)
    def handle_domain_error(error: LinliError):
        rollback_unit_of_work()
        if error.strikes:  # wrong guesses at a short code are kept, whatever else is undone
            from app.core import clock, strikes
            from app.core.database import commit_unit_of_work

            error = strikes.record_refusal(error, clock.now())
            commit_unit_of_work()
        body = error.to_dict()
        return _render(error.http_status, error.code, body["message"], body.get("fields"))

    @app.errorhandler(SecurityError)
    def handle_untrusted_host(error: SecurityError):
        # A Host header outside TRUSTED_HOSTS: no page can be built for it (every link would
        # name that host), so the answer is plain text.
        return (
            _("This server does not answer for that address."),
            400,
            {"Content-Type": "text/plain; charset=utf-8"},
        )

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        rollback_unit_of_work()  # a refused request keeps nothing it began
        messages = {
            400: _("The request could not be understood."),
            401: _("A valid API token is needed: Authorization: Bearer <token>."),
            403: _("You are not allowed to see this page."),
            404: _("This page does not exist."),
            405: _("This page does not accept that kind of request."),
            413: _("The upload is too large."),
            429: _("Too many attempts. Please wait a minute and try again."),
        }
        status = error.code or 500
        message = messages.get(status) or error.description or ""
        code = (error.name or "error").lower().replace(" ", "_")
        response = make_response(_render(status, code, str(message)))
        if status == 401:  # RFC 6750: say which scheme is expected
            response.headers["WWW-Authenticate"] = 'Bearer realm="linli"'
        return response

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    def handle_database_unavailable(error: sa_exc.DBAPIError):
        # The database is down, restarting, or (SQLite) busy past its timeout: nothing was
        # done, and the same request later will work. 503 with Retry-After tells clients,
        # proxies and the SMS and Telegram gateways to try again; an API client may repeat
        # a POST with the same Idempotency-Key. Nothing here may touch the database again
        # (not even who is signed in), so the page is one of its own.
        g.database_down = True
        with contextlib.suppress(sa_exc.SQLAlchemyError):  # the connection is gone: the
            rollback_unit_of_work()  # pool replaces it
        log.warning("database unavailable: %s", type(error.orig or error).__name__)
        with force_locale(_locale_without_database()):
            message = _("The service is briefly unavailable. Please try again in a minute.")
            response = make_response(
                _render(503, "unavailable", message, template="errors/unavailable.html")
            )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        rollback_unit_of_work()
        # Flask sends this signal only for errors no handler takes; error reporters (Sentry's
        # Flask integration) listen for it, so this handler, which takes them all, sends it.
        got_request_exception.send(app, exception=error)
        log.exception("unhandled error")
        return _render(500, "internal_error", _("Something went wrong on our side."))


def write_broadcast(to, form, *, community_ids, source: str):
    """The write → preview → send steps of a group message, for the panel and a 三长's
    phone alike: (the broadcast sent, or None; the preview to show, or None). The preview
    draws the key the confirmed form carries, so sending it twice sends once. A send is
    flashed for the page the caller redirects to."""
    import secrets

    from flask_babel import gettext as _

    from app.channels import broadcasts
    from app.core import clock

    if not form.validate_on_submit():
        return None, None
    channels = [c for c in broadcasts.CHANNELS if getattr(form, c).data]
    try:
        if request.form.get("action") == "send" and form.key.data:
            sent = broadcasts.send(
                to,
                form.body.data,
                channels,
                sender=current_user,
                community_ids=community_ids,
                key=form.key.data,
                now=clock.now(),
                source=source,
            )
            flash(_("Sent to the outbox: %(n)s people.", n=sent.reached), "info")
            return sent, None
        preview = broadcasts.preview(to, form.body.data, channels)
        form.key.data = secrets.token_urlsafe(24)
        return None, preview
    except LinliError as exc:
        rollback_unit_of_work()
        {"channels": form.sms}.get(exc.field or "", form.body).errors.append(str(exc))
        return None, None

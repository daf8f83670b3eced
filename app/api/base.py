"""What every API view shares: the bearer token, strict loading, and who may do what.

Every request but the OpenAPI document carries `Authorization: Bearer <token>`; the token
speaks for one person with that person's permissions (`g.api_person`). Errors are
`{"error": {"code", "message", "fields"}}` (the shared handlers in app/errors.py answer
JSON under /api/)."""

from __future__ import annotations

import functools
import hashlib
import logging

from flask import abort, after_this_request, current_app, g, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import Unauthorized

from app.api import bp
from app.core import clock
from app.core.database import commit_unit_of_work, rollback_unit_of_work
from app.core.errors import InvalidInput, NotFound
from app.core.extensions import csrf, db, limiter
from app.models import Merchant, Person
from app.partners import offers
from app.people import api_tokens, people

log = logging.getLogger(__name__)

PUBLIC_ENDPOINTS = {"api.openapi_document"}

# No cookies are read here, only a bearer token a browser never sends by itself: CSRF
# does not apply.
csrf.exempt(bp)


def rate_limit_key() -> str:
    """Requests are counted per token (the header's digest; the limit is checked before the
    token is looked up), and per address when there is none."""
    header = request.headers.get("Authorization", "")
    if header:
        return "api-token:" + hashlib.sha256(header.encode()).hexdigest()[:32]
    return "api-address:" + (request.remote_addr or "")


# Limits on the blueprint are checked before any of its hooks run, so before the request
# holds SQLite's write lock (the database storage writes on a connection of its own; a route
# decorator would be checked inside the view, after the token was looked up, and wait for
# that lock until SQLite gave up). Every route counts against the first; redemptions
# against the second too (a till guessing six-digit codes).
limiter.shared_limit(
    lambda: current_app.config["API_RATE_LIMIT"], scope="api", key_func=rate_limit_key
)(bp)
limiter.shared_limit(
    lambda: current_app.config["API_REDEEM_RATE_LIMIT"],
    scope="api-redemptions",
    key_func=rate_limit_key,
    exempt_when=lambda: request.endpoint != "api.redemption_create",
)(bp)


@bp.before_request
def bearer_token():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    now = clock.now()
    row = api_tokens.authenticate(token.strip(), now=now) if scheme == "Bearer" else None
    if row is None:
        raise Unauthorized()
    g.api_person = row.person
    if api_tokens.needs_marking(row, now):
        _mark_used_after_the_answer(row.id, now)


def _mark_used_after_the_answer(token_id: int, now) -> None:
    """Write "last used" once the answer is out, in a transaction of its own: a GET writes
    nothing, and on SQLite the request has given up the write lock by then."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def mark() -> None:
        with app.app_context():
            try:
                api_tokens.mark_used(token_id, now)
                commit_unit_of_work()
            except Exception:
                rollback_unit_of_work()
                log.exception("could not note when API token #%s was used", token_id)

    @after_this_request
    def when_closed(response):
        response.call_on_close(mark)
        return response


class InvalidFields(InvalidInput):
    """Several fields at once, as marshmallow reports them."""

    def __init__(self, messages: dict):
        super().__init__(_("Some fields are not right."))
        self.messages = {k: [str(m) for m in _flatten(v)] for k, v in messages.items()}

    def to_dict(self) -> dict:
        return {"code": self.code, "message": str(self), "fields": self.messages}


def _flatten(value) -> list:
    if isinstance(value, dict):
        return [m for v in value.values() for m in _flatten(v)]
    if isinstance(value, list):
        return [m for v in value for m in _flatten(v)]
    return [value]


@functools.cache
def _schema(kind: type[Schema]) -> Schema:
    """The one instance of a schema: making one deep-copies its fields (0.02–0.03 ms, twice
    a request), and an instance keeps nothing between loads and dumps (its messages are
    lazy, said in each caller's language)."""
    return kind()


def dump(kind: type[Schema], data) -> dict:
    """An answer, through its schema."""
    return _schema(kind).dump(data)


def load_query(kind: type[Schema]) -> dict:
    try:
        return _schema(kind).load(request.args)
    except ValidationError as exc:
        raise InvalidFields(exc.normalized_messages()) from None


def load_body(kind: type[Schema]) -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput(_l("The body must be a JSON object."), field="body")
    try:
        return _schema(kind).load(data)
    except ValidationError as exc:
        raise InvalidFields(exc.normalized_messages()) from None


def field_error(field: str, message: str) -> InvalidFields:
    return InvalidFields({field: [message]})


# --- the document -----------------------------------------------------------------------


def describe(
    summary: str,
    *,
    who: str,
    answer=None,
    status: int = 200,
    query=None,
    body=None,
    idempotent: bool = False,
    other_statuses: tuple[int, ...] = (),
):
    """What app/api/docs.py puts in the OpenAPI document for this view (kept at the route,
    so the document and the code are read together). `who`: the tokens that may call it."""

    def mark(view):
        view.api_doc = {
            "summary": summary,
            "who": who,
            "answer": answer,
            "status": status,
            "query": query,
            "body": body,
            "idempotent": idempotent,
            "other_statuses": other_statuses,
        }
        return view

    return mark


# --- who is asking ------------------------------------------------------------------------


def caller() -> Person:
    return g.api_person


def is_staff(person: Person) -> bool:
    return person.has_role("staff") or person.has_role("admin")


def staff_scope() -> set[int] | None:
    """The communities a staff token may act in (None: all, for an administrator); 403 for
    anyone else."""
    person = caller()
    if not is_staff(person):
        abort(403)
    return people.visible_community_ids(person)


def visible_person(person: Person | None, scope: set[int] | None) -> Person:
    """`person` if a staff member of `scope` may see them; 404 otherwise (never 403, which
    would tell that the id exists)."""
    if (
        person is None
        or person.community_id is None
        or (scope is not None and person.community_id not in scope)
    ):
        raise NotFound(_l("Nobody here has this id or phone number."), field="person")
    return person


def volunteer() -> Person:
    """The caller as a resident of a community; 403 for a token of someone who is not (a
    shop operator or staff member who does not live in one)."""
    person = caller()
    if person.community_id is None:
        abort(403)
    return person


def operated_merchant(merchant_id: int | None) -> Merchant:
    """The shop a merchant token acts for: the one named, or its only shop."""
    person = caller()
    if not person.has_role("merchant"):
        abort(403)
    shops = offers.merchants_of(person)
    if merchant_id is None:
        if len(shops) == 1:
            return shops[0]
        raise field_error("merchant_id", _("You run several shops: say which one."))
    for shop in shops:
        if shop.id == merchant_id:
            return shop
    raise NotFound(_l("There is no such shop."), field="merchant_id")


# --- keyset pages -------------------------------------------------------------------------


def keyset(select, column, query: dict, *, newest_first: bool = True):
    """One page of `select` (whose first entity has the unique integer `column`, e.g. its
    id), after the page the query's `cursor` names; never an offset over the table.
    Returns (rows, the next page's cursor or None)."""
    limit = query["limit"]
    if query.get("cursor") is not None:
        after = query["cursor"]
        select = select.where(column < after if newest_first else column > after)
    select = select.order_by(column.desc() if newest_first else column.asc()).limit(limit + 1)
    rows = db.session.execute(select).all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, getattr(rows[-1][0], column.key)

"""Idempotency keys for the API's POSTs (the `Idempotency-Key` header).

The first response to a key is stored with the work it answers for, in the same transaction:
a retry with the same key and the same body gets that response again (status and body, with
`Idempotent-Replayed: true`) and nothing happens twice; the same key with another body is a
409. Business refusals (422) are stored too, in their own transaction after the work rolled
back, so a retry is told the same thing; malformed requests (400), refusals of who may do it
(401/403/404) and rate limits (429) are not stored — nothing ran.

Concurrent requests with one key queue on the unique (person, key) index: on PostgreSQL the
second insert waits for the first transaction and then fails, and the second request answers
with the stored response; on SQLite writers are serialised (BEGIN IMMEDIATE) and the second
finds the row. The services keep keys of their own too (ledger, redemptions, adjustments):
they get one made from the record's id (`service_key`), a second guard against posting twice
that still lets a client use a key afresh once its record has been forgotten.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, g, jsonify, make_response, request
from flask_babel import lazy_gettext as _l

from app.core import clock, strikes
from app.core.database import (
    commit_unit_of_work,
    insert_id_unless_taken,
    rollback_unit_of_work,
    rows_changed,
)
from app.core.errors import IdempotencyConflict, InvalidInput, LinliError
from app.core.extensions import db
from app.models import IdempotencyRecord
from app.models.base import table_of

HEADER = "Idempotency-Key"
MAX_KEY = 100
_IN_FLIGHT = _l("A request with this Idempotency-Key is still being handled; retry.")


def _clean_key(raw: str | None) -> str:
    key = (raw or "").strip()
    if not key:
        raise InvalidInput(
            _l("This request needs an Idempotency-Key header (any unique text, e.g. a UUID)."),
            field=HEADER,
        )
    if len(key) > MAX_KEY or not key.isascii() or not key.isprintable():
        raise InvalidInput(
            _l("The Idempotency-Key must be 1 to %(max)s printable ASCII characters."),
            field=HEADER,
            max=MAX_KEY,
        )
    return key


def fingerprint() -> str:
    """The request as a retry must repeat it: method, path and body (JSON keys sorted)."""
    body = request.get_json(silent=True)
    text = json.dumps(
        [request.method, request.path, body], sort_keys=True, ensure_ascii=False, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


def retention() -> timedelta:
    return timedelta(hours=current_app.config["IDEMPOTENCY_HOURS"])


def service_key() -> str:
    """The key handed to a service (ledger, redemptions…) for this request: the id of the
    record that holds its Idempotency-Key, so the key may be used afresh once forgotten."""
    return f"api:{g.idempotency_record_id}"


def _find(person_id: int, key: str, now: datetime) -> IdempotencyRecord | None:
    record = db.session.scalar(sa.select(IdempotencyRecord).filter_by(person_id=person_id, key=key))
    if record is not None and record.created_at < now - retention():
        db.session.delete(record)  # expired: the key may be used afresh
        db.session.flush()
        return None
    return record


def _replay(record: IdempotencyRecord, print_: str):
    if record.fingerprint != print_:
        raise IdempotencyConflict(
            _l("This Idempotency-Key was already used for a different request."), field=HEADER
        )
    if not record.status:  # claimed, the work not finished
        raise IdempotencyConflict(_IN_FLIGHT, field=HEADER)
    response = current_app.response_class(
        record.body, status=record.status, mimetype="application/json"
    )
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _claim(
    person_id: int, key: str, print_: str, now: datetime, status: int = 0, body: str = ""
) -> int | None:
    """The id of the key's new record (status 0: in flight, the work not done yet; or a
    stored answer); None when the key is taken."""
    return insert_id_unless_taken(
        IdempotencyRecord,
        dict(
            person_id=person_id,
            key=key,
            fingerprint=print_,
            status=status,
            body=body,
            created_at=now,
        ),
    )


def idempotent(view):
    """Wrap a POST view of the API: require the header, replay or conflict, store."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = _clean_key(request.headers.get(HEADER))
        print_ = fingerprint()
        person_id = g.api_person.id
        now = clock.now()
        # Claim the key before doing the work, in one statement: a parallel request with the
        # same key waits here (PostgreSQL) or never got this far (SQLite) until this one has
        # finished, and then finds it taken.
        record_id = _claim(person_id, key, print_, now)
        if record_id is None:
            found = _find(person_id, key, now)
            if found is not None:
                return _replay(found, print_)
            record_id = _claim(person_id, key, print_, now)  # it had expired and is gone
            if record_id is None:
                raise IdempotencyConflict(_IN_FLIGHT, field=HEADER)
        g.idempotency_record_id = record_id
        try:
            response = make_response(view(*args, **kwargs))
        except LinliError as exc:
            if exc.http_status != 422:
                raise
            return _store_refusal(exc, person_id, key, print_, now)
        if response.status_code < 300:
            db.session.execute(
                _STORE,
                {
                    "record_id": record_id,
                    "answer_status": response.status_code,
                    "answer_body": response.get_data(as_text=True),
                },
            )
        else:  # nothing is kept for an answer that did nothing, the claim included
            rollback_unit_of_work()
        return response

    return wrapper


_records = table_of(IdempotencyRecord)
# The answer kept with the work, by one Core UPDATE built once (no ORM object to flush).
_STORE = (
    sa.update(_records)
    .where(_records.c.id == sa.bindparam("record_id"))
    .values(status=sa.bindparam("answer_status"), body=sa.bindparam("answer_body"))
)


def _store_refusal(exc: LinliError, person_id: int, key: str, print_: str, now: datetime):
    """Undo the work, then keep the refusal under the key in a transaction of its own
    (with the wrong guesses it counts, app.strikes)."""
    rollback_unit_of_work()
    exc = strikes.record_refusal(exc, now)
    response = jsonify({"error": exc.to_dict()})
    response.status_code = exc.http_status
    stored = _claim(
        person_id, key, print_, now, response.status_code, response.get_data(as_text=True)
    )
    if stored is not None:
        commit_unit_of_work()
    else:  # a parallel request with the key got in after the rollback
        rollback_unit_of_work()
    return response


def purge(now: datetime) -> int:
    """Forget records older than the retention; returns how many went."""
    return rows_changed(
        sa.delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - retention())
    )

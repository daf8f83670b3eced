"""Uploaded files kept in the database (`stored_files`), the same for every app server.

Sizes are limited by kind; a file with an end of life (an import waiting for its
confirmation) is deleted by `purge` once that has passed. Photos are kept while something
names them: replacing one deletes the old file in the same transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core.database import delete_in_chunks
from app.core.errors import InvalidInput
from app.core.extensions import db
from app.models import StoredFile

# Bytes a file of each kind may have. A CSV of a whole street is a few megabytes; a photo
# is re-encoded small (app/partners/offers.py) before it is kept.
MAX_BYTES = {
    "import": 10 * 1024 * 1024,
    "offer-photo": 1024 * 1024,
    "merchant-photo": 1024 * 1024,
    "activity-photo": 1024 * 1024,
    "deed-photo": 1024 * 1024,
    "need-photo": 1024 * 1024,
    "deduction-photo": 1024 * 1024,
}


def store(
    kind: str,
    name: str,
    data: bytes,
    *,
    content_type: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> StoredFile:
    """Keep `data` as the file `name` of `kind` (flushed; the caller commits)."""
    if len(data) > MAX_BYTES[kind]:
        raise InvalidInput(
            _l("The file is too large: at most %(mb)s MB."),
            field="file",
            mb=MAX_BYTES[kind] // (1024 * 1024),
        )
    stored = StoredFile(
        kind=kind,
        name=name,
        data=data,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=content_type,
        created_at=now,
        expires_at=expires_at,
    )
    db.session.add(stored)
    db.session.flush()
    return stored


def find(kind: str, name: str) -> StoredFile | None:
    return db.session.scalar(sa.select(StoredFile).filter_by(kind=kind, name=name))


def discard(kind: str, name: str | None) -> None:
    """Delete the file, if there is one by that name."""
    if name:
        db.session.execute(sa.delete(StoredFile).filter_by(kind=kind, name=name))


def purge(now: datetime, *, checkpoint: Callable[[], None]) -> int:
    """Delete files whose end of life has passed, a chunk at a time (each ended by
    `checkpoint()`); returns how many went."""
    return delete_in_chunks(StoredFile, StoredFile.expires_at <= now, checkpoint=checkpoint)


def replace_photo(kind: str, owner_id: int, old: str | None, jpeg: bytes, *, now: datetime) -> str:
    """Keep `jpeg` (made small by `offers.prepare_photo`) as the owner's new photo of `kind`
    and delete the one it replaces; return its name. The name changes with the picture, so a
    page may cache it."""
    name = f"{owner_id}-{secrets.token_hex(8)}.jpg"
    store(kind, name, jpeg, content_type="image/jpeg", now=now)
    discard(kind, old)
    return name

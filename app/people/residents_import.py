"""Importing residents from a CSV file: read, plan (what would change), then apply.

The file comes from Excel as often as not: UTF-8 with or without a BOM, GB18030 (what
Chinese Excel writes), or UTF-16. Headers may be English or Chinese. A plan lists every
bad row with its line number and reason.

`check` keeps the file in the database with the plan's counts (a `ResidentImport`, seen by
every app server); `run` writes its good rows CHUNK_ROWS at a time, each chunk its own
transaction ended by the edge's `checkpoint`, so no write lock is held for more than a
moment (on SQLite one lock serves the whole server: a text message must not wait for an
import). An interrupted import goes on from the last chunk written.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, pre_load

from app.core import files
from app.core.database import rows_changed
from app.core.errors import ImportFailed, LinliError, NotFound
from app.core.extensions import db
from app.core.phones import normalize_phone
from app.models import OrgUnit, Person, ResidentImport, StoredFile
from app.models.people import USER_ROLES
from app.people import org, people

COLUMNS = {
    # Simplified, then traditional (a file from a Big5 or traditional-Chinese Excel).
    "phone": ("phone", "mobile", "手机号", "手机", "手机号码", "电话")
    + ("手機號", "手機", "手機號碼", "電話"),
    "name": ("name", "姓名", "名字"),
    "grid": ("grid", "网格", "網格"),
    "building": ("building", "楼栋", "楼号", "樓棟", "樓號"),
    "unit": ("unit", "单元", "單元"),
    "room": ("room", "房号", "门牌号", "房號", "門牌號"),
    "tags": ("tags", "标签", "標籤"),
}
REQUIRED = ("phone", "name")
TAG_SEPARATORS = re.compile(r"[;；、]")
MAX_ROWS = 300_000
# Rows written per transaction: a fraction of a second of the write lock.
CHUNK_ROWS = 100
# How long a checked file waits for its confirmation (then `flask purge` deletes it); each
# chunk written gives an import under way as long again.
KEEP_HOURS = 24


class _Checked(fields.String):
    """A text cell cleaned by a service function that raises LinliError when it is bad."""

    def __init__(self, clean, **kwargs):
        super().__init__(**kwargs)
        self.clean = clean

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return self.clean(super()._deserialize(value, attr, data, **kwargs))
        except LinliError as exc:
            raise ValidationError(str(exc)) from None


class _Tags(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return people.clean_tags(TAG_SEPARATORS.split(text))
        except LinliError as exc:
            raise ValidationError(str(exc)) from None


def _short_enough(value: str) -> None:
    if len(value) > org.MAX_NAME:
        raise ValidationError(_("Longer than %(max)s characters.", max=org.MAX_NAME))


def _place() -> fields.String:
    return fields.String(load_default="", validate=_short_enough)


class ResidentRowSchema(Schema):
    """One CSV row, cell by cell; every bad cell of a row is reported, not just the first."""

    phone = _Checked(normalize_phone, required=True)
    name = _Checked(people.clean_name, required=True)
    grid = _place()
    building = _place()
    unit = _place()
    room = _place()
    tags = _Tags(load_default=list)

    @pre_load
    def strip_cells(self, data, **kwargs):
        return {key: value.strip() for key, value in data.items()}


@dataclass
class RowError:
    line: int
    field: str | None
    message: str


@dataclass
class PlannedRow:
    line: int
    phone: str
    name: str
    grid: str
    building: str
    unit: str
    room: str
    tags: list[str]
    action: str = "create"  # create | update | move | unchanged
    person_id: int | None = None


@dataclass
class ImportPlan:
    encoding: str
    rows: list[PlannedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for row in self.rows if row.action == action)


def decode(data: bytes) -> tuple[str, str]:
    """The text of an uploaded file and the encoding it was in."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    elif data.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    else:
        candidates = ["utf-8", "gb18030"]
    for encoding in candidates:
        try:
            # A byte-order mark in any encoding (GB18030 has one too) is not a character
            # of the first column's name.
            return data.decode(encoding).removeprefix("\ufeff"), encoding
        except UnicodeDecodeError:
            continue
    raise ImportFailed(
        _l("The file is not UTF-8, GB18030 or UTF-16 text; save it from Excel as CSV."),
        field="file",
    )


def _first_row(text: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error:
        return []


def _missing(found: dict[str, int]) -> list[str]:
    """The required columns a header (as `_find_columns` read it) lacks."""
    return [key for key in REQUIRED if key not in found]


def _as_big5(data: bytes, text: str, encoding: str) -> tuple[str, str]:
    """A file read as GB18030 (which takes almost any bytes) whose header only makes sense
    in Big5 is read as Big5; the text as it was otherwise."""
    if encoding != "gb18030" or not _missing(_find_columns(_first_row(text))):
        return text, encoding
    try:
        big5 = data.decode("big5")
    except UnicodeDecodeError:
        return text, encoding
    return (big5, "big5") if not _missing(_find_columns(_first_row(big5))) else (text, encoding)


def _find_columns(header: list[str]) -> dict[str, int]:
    aliases = {alias.lower(): key for key, names in COLUMNS.items() for alias in names}
    found: dict[str, int] = {}
    for index, title in enumerate(header):
        key = aliases.get(title.strip().lower())
        if key is not None and key not in found:
            found[key] = index
    return found


def _header_map(header: list[str], encoding: str) -> dict[str, int]:
    found = _find_columns(header)
    missing = _missing(found)
    if (
        missing
        and encoding != "utf-8"
        and not any(title.strip().isascii() and title.strip() for title in header)
    ):
        # Chinese titles that match nothing: most likely an encoding we read wrongly.
        raise ImportFailed(
            _l(
                "The header row reads as %(header)s: the file is probably in an encoding "
                'other than UTF-8, GB18030 or Big5. Save it from Excel as "CSV UTF-8".'
            ),
            field="file",
            header="，".join(title.strip() for title in header)[:60],
        )
    if missing:
        raise ImportFailed(
            _l(
                "The header row lacks the column(s) %(columns)s "
                "(accepted: phone or 手机号, name or 姓名)."
            ),
            field="file",
            columns=", ".join(missing),
        )
    return found


def plan(data: bytes, community: OrgUnit, *, may_move: bool) -> ImportPlan:
    """Read the file and work out, row by row, what importing it into `community` would do.

    An import creates people and updates the community's own residents. A phone of another
    community's resident is a bad row unless `may_move` (a street administrator, the CLI);
    a staff or red partner account is never renamed or moved by an import.
    """
    text, encoding = _as_big5(data, *decode(data))
    result = ImportPlan(encoding=encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    schema = ResidentRowSchema()  # one for every row: making one deep-copies its fields
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFailed(_l("The file is empty."), field="file") from None
    except csv.Error as exc:
        raise ImportFailed(_l("The file is not a readable CSV file."), field="file") from exc
    columns = _header_map(header, encoding)
    first_line_of: dict[str, int] = {}

    line = reader.line_num
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.errors.append(RowError(reader.line_num, None, str(exc)))
            break
        row_line = line + 1
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(result.rows) + len(result.errors) >= MAX_ROWS:
            raise ImportFailed(
                _l("The file has more than %(max)s rows; split it."), field="file", max=MAX_ROWS
            )

        values = {key: record[index] for key, index in columns.items() if index < len(record)}
        try:
            row = schema.load(values)
        except ValidationError as exc:
            result.errors += [
                RowError(row_line, key, " ".join(str(m) for m in messages))
                for key, messages in sorted(exc.normalized_messages().items())
            ]
            continue
        phone = row["phone"]
        if phone in first_line_of:
            result.errors.append(
                RowError(
                    row_line,
                    "phone",
                    _(
                        "The same phone number is already on line %(line)s.",
                        line=first_line_of[phone],
                    ),
                )
            )
            continue
        first_line_of[phone] = row_line
        result.rows.append(PlannedRow(line=row_line, **row))
    _classify(result, community, may_move)
    return result


def _refusal(person: Person, community: OrgUnit, may_move: bool) -> str | None:
    """Why an import may not change this person, or None."""
    if person.password_hash or any(r.role in USER_ROLES for r in person.roles):
        return _(
            "This phone belongs to a staff or red partner account; an import never changes it."
        )
    if person.community_id not in (None, community.id) and not may_move:
        return _(
            "This phone belongs to a resident of another community; an administrator can move them."
        )
    return None


def _classify(result: ImportPlan, community: OrgUnit, may_move: bool) -> None:
    """Mark each row as a new person, an update, a move from another community, or no change;
    rows the importer may not apply become bad rows."""
    phones = [row.phone for row in result.rows]
    known: dict[str, Person] = {}
    for start in range(0, len(phones), 900):
        for person in db.session.scalars(
            sa.select(Person).where(Person.phone.in_(phones[start : start + 900]))
        ):
            known[person.phone] = person
    kept = []
    for row in result.rows:
        existing = known.get(row.phone)
        if existing is None:
            kept.append(row)
            continue
        refusal = _refusal(existing, community, may_move)
        if refusal is not None:
            result.errors.append(RowError(row.line, "phone", refusal))
            continue
        kept.append(row)
        row.person_id = existing.id
        if existing.community_id not in (None, community.id):
            row.action = "move"
        elif (
            existing.name == row.name
            and set(existing.tag_names) == set(row.tags)
            and not (row.grid or row.building or row.unit or row.room)
        ):
            row.action = "unchanged"
        else:
            row.action = "update"
    result.rows = kept
    result.errors.sort(key=lambda error: error.line)


def check(
    data: bytes,
    community: OrgUnit,
    *,
    may_move: bool,
    actor: Person | None,
    file_name: str,
    now: datetime,
) -> tuple[ResidentImport, ImportPlan]:
    """Plan the file, and keep it with the plan's counts for a confirmation (flushed)."""
    result = plan(data, community, may_move=may_move)
    token = secrets.token_hex(16)
    stored = files.store(
        "import",
        token,
        data,
        content_type="text/csv",
        now=now,
        expires_at=now + timedelta(hours=KEEP_HOURS),
    )
    record = ResidentImport(
        token=token,
        file=stored,
        file_name=file_name[:200],
        community_id=community.id,
        actor_id=actor.id if actor else None,
        may_move=may_move,
        encoding=result.encoding,
        new=result.count("create"),
        updated=result.count("update"),
        moved=result.count("move"),
        unchanged=result.count("unchanged"),
        bad=len(result.errors),
        rows_total=len(result.rows),
        created_at=now,
        updated_at=now,
    )
    db.session.add(record)
    db.session.flush()
    return record, result


def find(token: str, actor: Person | None) -> ResidentImport:
    """The import `actor` checked under this token (anyone else's is not found)."""
    record = db.session.scalar(sa.select(ResidentImport).filter_by(token=token or ""))
    if record is None or record.actor_id != (actor.id if actor else None):
        raise NotFound(_l("There is no such import."), field="token")
    return record


def under_way(actor: Person) -> list[ResidentImport]:
    """The imports `actor` began and that have rows left to write (newest first)."""
    return list(
        db.session.scalars(
            sa.select(ResidentImport)
            .where(ResidentImport.actor_id == actor.id, ResidentImport.status == "applying")
            .order_by(ResidentImport.updated_at.desc())
            .limit(20)
        )
    )


def run(
    record: ResidentImport,
    *,
    skip_bad: bool,
    now: datetime,
    actor: Person | None,
    source: str,
    checkpoint: Callable[[], None],
    keep_going: Callable[[], bool] = lambda: True,
    progress: Callable[[int], None] | None = None,
) -> ResidentImport:
    """Write the import's good rows from where it got to, a chunk at a time.

    After each chunk (the rows and the record's progress, together) `checkpoint()` ends the
    transaction; `keep_going()` is asked after each, and False leaves the rest for another
    call. Each chunk's rows are checked against the database again just before they are
    written. With bad rows, nothing is written unless `skip_bad`.
    """
    if record.status == "done":
        return record
    if record.file is None:
        raise ImportFailed(
            _l("This check is too old and its file is gone. Upload the file again."),
            field="file",
        )
    community = record.community
    result = plan(record.file.data, community, may_move=record.may_move)
    skip_bad = skip_bad or record.skip_bad
    if result.errors and not skip_bad:
        raise ImportFailed(
            _l("The file has bad rows; fix them or choose to skip them."), field="file"
        )
    record.status, record.skip_bad = "applying", skip_bad
    todo = [row for row in result.rows if row.line > record.last_line]
    for start in range(0, len(todo), CHUNK_ROWS):
        chunk = ImportPlan(encoding=result.encoding, rows=todo[start : start + CHUNK_ROWS])
        last_line = chunk.rows[-1].line
        _classify(chunk, community, record.may_move)  # as the database is now
        if chunk.errors and not skip_bad:
            first = chunk.errors[0]
            raise ImportFailed(
                _l("Line %(line)s: %(reason)s"), field="file", line=first.line, reason=first.message
            )
        record.changed += apply(
            chunk, community, may_move=record.may_move, now=now, actor=actor, source=source
        )
        record.rows_done += len(chunk.rows) + len(chunk.errors)
        record.bad += len(chunk.errors)
        record.last_line = last_line
        record.updated_at = now
        # The file's end of life moves on too, without loading its bytes again (each commit
        # expires what the session holds).
        db.session.execute(
            sa.update(StoredFile)
            .where(StoredFile.id == record.file_id)
            .values(expires_at=now + timedelta(hours=KEEP_HOURS))
        )
        db.session.flush()
        checkpoint()
        if progress is not None:
            progress(len(chunk.rows) + len(chunk.errors))
        if start + CHUNK_ROWS < len(todo) and not keep_going():
            return record
    record.status, record.finished_at, record.updated_at = "done", now, now
    record.file = None
    db.session.flush()
    files.discard("import", record.token)
    checkpoint()
    return record


def purge(now: datetime) -> int:
    """Forget checks never confirmed whose file has run out; returns how many went."""
    stale = sa.select(ResidentImport.id).where(
        ResidentImport.status == "checked",
        ResidentImport.created_at <= now - timedelta(hours=KEEP_HOURS),
    )
    return rows_changed(sa.delete(ResidentImport).where(ResidentImport.id.in_(stale)))


def apply(
    import_plan: ImportPlan,
    community: OrgUnit,
    *,
    may_move: bool,
    now: datetime,
    actor: Person | None,
    source: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the good rows of a plan; returns how many people were created or changed.

    Each person is checked again as it is written (a plan may be stale or built by hand).
    """
    changed = 0
    for row in import_plan.rows:
        if row.action != "unchanged":
            place = org.place(community, row.grid, row.building, row.unit, row.room)
            if row.person_id is None:
                people.create_person(
                    name=row.name,
                    phone=row.phone,
                    community=community,
                    org_unit=place,
                    tags=row.tags,
                    now=now,
                    actor=actor,
                    source=source,
                )
                changed += 1
            else:
                person = people.get(row.person_id)
                refusal = _refusal(person, community, may_move)
                if refusal is not None:
                    raise ImportFailed(
                        _l("Line %(line)s: %(reason)s"), field="file", line=row.line, reason=refusal
                    )
                has_address = any((row.grid, row.building, row.unit, row.room))
                if people.update_person(
                    person,
                    name=row.name,
                    community=community,
                    org_unit=place if has_address else None,
                    tags=row.tags,
                    now=now,
                    actor=actor,
                    source=source,
                ):
                    changed += 1
        if progress is not None:
            progress(1)
    db.session.flush()
    return changed

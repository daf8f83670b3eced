"""Column types shared by every model."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import BigInteger, DateTime, Integer, Table
from sqlalchemy.types import TypeDecorator

# Points amounts and balances: 64-bit. An issuance account holds minus all its community
# ever issued, which passes 2**31 at city scale. SQLite's INTEGER is 64-bit already.
Points = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on every database.

    SQLite has no time zone type and hands back naive values; this stores UTC and always
    returns aware UTC datetimes, and refuses naive ones so a local time is never stored.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_default() -> datetime:
    """A column default: the app's clock (tests' or the real one), never the bare system clock."""
    from app.core import clock

    return clock.now()


def table_of(model: type) -> Table:
    """A model's table, typed as a Table (DeclarativeBase types `__table__` as a FromClause),
    for Core statements: insert, update, delete with RETURNING."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


# The largest id a row can have on every database (PostgreSQL's INTEGER): a bigger number
# in a URL or a form names nothing, and must not reach the database (SQLite overflows).
MAX_ID = 2**31 - 1


def db_id(value) -> int:
    """A row id typed by anyone (`request.args.get(..., type=db_id)`, a scope in a URL): a
    whole number from 1 to MAX_ID, else ValueError (the argument is then taken as missing)."""
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

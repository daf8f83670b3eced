"""Cleaning what people type into one-line fields (names, reasons)."""

from __future__ import annotations

from decimal import Decimal

from app.core.errors import InvalidInput


def one_line(value: str | None, *, field: str, max_length: int, required, too_long) -> str:
    """Collapse whitespace; refuse an empty or over-long value with the given messages.

    `too_long` is a lazy message that may use %(max)s. `required=None`: empty is allowed.
    """
    text = " ".join((value or "").split())
    if not text and required is not None:
        raise InvalidInput(required, field=field)
    if len(text) > max_length:
        raise InvalidInput(too_long, field=field, max=max_length)
    return text


def yuan(fen: int | None) -> str:
    """Money kept in fen shown in yuan: 1500 → "15.00"; None (no value kept) → ""."""
    return "" if fen is None else f"{Decimal(fen) / 100:.2f}"


def mask_name(name: str) -> str:
    """A name as the public and merchants see it: 张*明, 欧**娜; a two-character name as 张*."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]

"""Cleaning what people type into one-line fields (names, reasons)."""

from __future__ import annotations

from app.errors import InvalidInput


def one_line(value: str | None, *, field: str, max_length: int, required, too_long) -> str:
    """Collapse whitespace; refuse an empty or over-long value with the given messages.

    `too_long` is a lazy message that may use %(max)s.
    """
    text = " ".join((value or "").split())
    if not text:
        raise InvalidInput(required, field=field)
    if len(text) > max_length:
        raise InvalidInput(too_long, field=field, max=max_length)
    return text

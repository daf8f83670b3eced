"""One page of a long list (panel lists are searchable and paged)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from app.core.extensions import db

PER_PAGE = 25


@dataclass(frozen=True)
class Page:
    items: list[Any]
    number: int  # from 1
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def paginate(query: sa.Select, number: int | None, per_page: int = PER_PAGE) -> Page:
    """Rows `query` selects on page `number` (out-of-range numbers give the nearest page)."""
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    pages = max(1, math.ceil((total or 0) / per_page))
    number = min(max(1, number or 1), pages)
    items = list(db.session.scalars(query.limit(per_page).offset((number - 1) * per_page)))
    return Page(items, number, per_page, total or 0)

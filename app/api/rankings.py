"""The boards, with the fields the public board shows (masked names, never ids or phones)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app import clock, rankings
from app.api import bp
from app.api.base import describe, load_query
from app.api.schemas import Rankings, RankingsQuery


@bp.get("/rankings")
@describe(
    _l("The top of a board of points earned (public fields only)"),
    who=_l("any token"),
    query=RankingsQuery,
    answer=Rankings,
)
def ranking_board():
    query = load_query(RankingsQuery())
    scope = rankings.Scope.parse(query["scope"])
    lines = rankings.board(scope, query["period"], clock.now(), limit=query["limit"])
    return Rankings().dump(
        {
            "board": query["board"],
            "period": query["period"],
            "scope": str(scope),
            "items": [
                {
                    "position": line.position,
                    "name": line.name,
                    "earned": line.earned,
                    "honours": list(line.honours),
                }
                for line in lines
            ],
        }
    )

"""The boards, with the fields the public board shows (masked names, never ids or phones)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.api import bp
from app.api.base import describe, dump, field_error, load_query
from app.api.schemas import Rankings, RankingsQuery
from app.core import clock
from app.points import rankings


@bp.get("/rankings")
@describe(
    _l("The top of a board: people, households or teams (public fields only)"),
    who=_l("any token"),
    query=RankingsQuery,
    answer=Rankings,
)
def ranking_board():
    query = load_query(RankingsQuery)
    scope = rankings.Scope.parse(query["scope"])
    now, period, limit = clock.now(), query["period"], query["limit"]
    if query["board"] == "people":
        items = [
            {
                "position": line.position,
                "name": line.name,
                "score": line.earned,
                "members": None,
                "honours": list(line.honours),
            }
            for line in rankings.board(scope, period, now, limit=limit)
        ]
    else:
        if scope.kind != "community":
            raise field_error("scope", _("Households and teams are ranked within a community."))
        group_board = (
            rankings.household_board if query["board"] == "households" else rankings.team_board
        )
        items = [
            {
                "position": line.position,
                "name": line.name,
                "score": line.score,
                "members": line.members,
                "honours": [],
            }
            for line in group_board(scope.id, period, now, limit=limit)
        ]
    return dump(
        Rankings, {"board": query["board"], "period": period, "scope": str(scope), "items": items}
    )

"""Panel pages for the monthly settlement with red partners (street administrator only)."""

import re

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core import clock
from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError
from app.core.text import yuan
from app.panel import bp
from app.panel.forms import ButtonForm
from app.partners import settlements
from app.web import csv_download, role_required

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _month(month: str) -> str:
    if not _MONTH.match(month):
        abort(404)
    return month


@bp.route("/settlements")
@role_required("admin")
def settlement_list():
    return render_template(
        "panel/settlements.html",
        months=settlements.recent_months(clock.now()),
        yuan=yuan,
    )


def _rows(month: str):
    """(closing or None, rows): the frozen settlements, or the live preview."""
    closing = settlements.get_month(month)
    if closing is not None:
        return closing, settlements.of_month(closing)
    return None, settlements.preview(month)


@bp.route("/settlements/<month>")
@role_required("admin")
def settlement_detail(month: str):
    month = _month(month)
    closing, rows = _rows(month)
    return render_template(
        "panel/settlement.html",
        month=month,
        closing=closing,
        intact=settlements.intact(closing) if closing else None,
        rows=rows,
        closable=closing is None and settlements.closable(month, clock.now()),
        yuan=yuan,
        form=ButtonForm(),
    )


@bp.route("/settlements/<month>/close", methods=["POST"])
@role_required("admin")
def settlement_close(month: str):
    month = _month(month)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        closing = settlements.close_month(month, actor=current_user, now=clock.now())
    except LinliError as exc:
        rollback_unit_of_work()
        flash(str(exc), "error")
    else:
        if closing.closed_by_id != current_user.id:
            flash(_("This month was already closed by someone else; nothing changed."), "info")
        else:
            flash(_("%(month)s is settled with the partners.", month=month), "info")
    return redirect(url_for(".settlement_detail", month=month))


@bp.route("/settlements/<month>.csv")
@role_required("admin")
def settlement_csv(month: str):
    month = _month(month)
    closing, rows = _rows(month)
    header = [
        _("Month"),
        _("Red partner"),
        _("Partner level"),
        _("Redemptions"),
        _("Voided"),
        _("Points"),
        _("Value (yuan)"),
        _("Status"),
        _("SHA-256"),
    ]
    body = [
        [
            month,
            row.merchant.name,
            row.merchant.tier,
            row.redemptions,
            row.voids,
            row.points,
            yuan(row.money_value_fen),
            _("settled") if closing else _("preview, not settled"),
            getattr(row, "content_hash", ""),
        ]
        for row in rows
    ]
    return csv_download(f"settlement-{month}.csv", header, body)

"""API tokens in the panel: who may call the API for whom; made here (shown once) or with
`flask create-token`, revoked here or with `flask revoke-token`.

A social worker manages tokens for themselves, residents of their communities and the
operators of shops serving them; only an administrator makes tokens for other staff."""

from collections.abc import Callable

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core import clock
from app.core.database import rollback_unit_of_work
from app.core.errors import LinliError
from app.core.extensions import db
from app.models import ApiToken, Person
from app.panel import bp
from app.panel.forms import ApiTokenForm, ButtonForm
from app.partners import offers
from app.people import api_tokens, people
from app.web import role_required


def _manageable() -> Callable[[Person], bool]:
    """Whether the signed-in worker may manage a person's tokens. The worker's communities
    and the shops serving them are looked up once, not again for every token listed."""
    if current_user.has_role("admin"):
        return lambda _person: True
    scope = people.visible_community_ids(current_user)
    served = {m.id for m in offers.merchants_for_staff(scope)}

    def may_manage(person: Person) -> bool:
        if person.id == current_user.id:
            return True
        if person.has_role("staff") or person.has_role("admin"):
            return False
        # An administrator (scope None) manages everyone's tokens.
        if scope is None or (person.community_id is not None and person.community_id in scope):
            return True
        return any(m.id in served for m in offers.merchants_of(person))

    return may_manage


def _page(form: ApiTokenForm, shown: tuple | None = None, status: int = 200):
    may_manage = _manageable()
    tokens = [row for row in api_tokens.listing() if may_manage(row.person)]
    return render_template(
        "panel/api_tokens.html", form=form, tokens=tokens, shown=shown, button=ButtonForm()
    ), status


@bp.route("/api-tokens", methods=["GET", "POST"])
@role_required("staff", "admin")
def api_token_list():
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _page(form, status=400 if form.is_submitted() else 200)
    person = people.find_by_login(form.who.data.strip())
    if person is None or not _manageable()(person):
        form.who.errors.append(_("Nobody you look after has this phone number or login."))
        return _page(form, status=400)
    try:
        row, token = api_tokens.create(
            person, name=form.name.data, actor=current_user, now=clock.now(), source="panel"
        )
    except LinliError as exc:
        rollback_unit_of_work()
        form.name.errors.append(str(exc))
        return _page(form, status=400)
    # Shown in this answer only (never flashed: the session cookie is signed, not secret).
    return _page(ApiTokenForm(formdata=None), shown=(row, token))


@bp.route("/api-tokens/<int:token_id>/revoke", methods=["POST"])
@role_required("staff", "admin")
def api_token_revoke(token_id: int):
    if not ButtonForm().validate_on_submit():
        abort(400)
    row = db.session.get(ApiToken, token_id)
    if row is None or not _manageable()(row.person):
        abort(404)
    api_tokens.revoke(token_id, actor=current_user, now=clock.now(), source="panel")
    flash(_("Token #%(id)s no longer works.", id=token_id), "info")
    return redirect(url_for(".api_token_list"))

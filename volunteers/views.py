import io
import re
from datetime import datetime, timedelta

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user
from wtforms import SelectChoice

from app.activities import activities, attendance, scan_codes
from app.channels import broadcasts, delivery
from app.core import clock, files, qr
from app.core.database import after_commit, rollback_unit_of_work
from app.core.errors import CodeRecentlySent, LinliError
from app.core.extensions import limiter
from app.core.phones import normalize_phone
from app.forms import BroadcastForm, uploaded_photo
from app.models.base import db_id
from app.partners import offers, personal_codes
from app.people import org, people, signin
from app.points import (
    deed_reports,
    deeds,
    honours,
    ledger,
    needs,
    rankings,
    reports,
    statements,
)
from app.web import public_url, safe_next, write_broadcast
from volunteers import bp
from volunteers.forms import ButtonForm, CodeForm, DeedReportForm, JoinForm, PhoneForm

_PHOTO_NAME = re.compile(r"^\d+-[0-9a-f]{16}\.jpg$")
# How long a scanned check-in code is held while the volunteer signs in first.
SCAN_HOLD = timedelta(minutes=15)
# How long a verified phone may take to fill in the join form.
JOIN_HOLD = timedelta(minutes=30)


@bp.route("/")
def index():
    if current_user.is_authenticated and current_user.community_id is not None:
        now = clock.now()
        return render_template(
            "volunteers/home.html",
            statement=statements.current_for(current_user.community_id, now),
            honours=honours.of(current_user)[:6],
            summary=people.summary(current_user, now),
            rank=rankings.community_rank_this_month(current_user, now),
            upcoming=activities.upcoming_for(current_user, now, limit=3),
            led=broadcasts.led_targets(current_user),
        )
    return render_template("volunteers/index.html", figures=reports.street_figures(clock.now()))


# --- signing in with a code ---------------------------------------------------------------


def _remember_next() -> None:
    target = safe_next(request.args.get("next"))
    if target:
        session["after_signin"] = target


def _finish_signin(person):
    login_user(person, remember=True)
    session.pop("signin_phone", None)
    return redirect(safe_next(session.pop("after_signin", None)) or url_for("volunteers.index"))


@bp.route("/signin", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["CODE_RATE_LIMIT"], methods=["POST"])
def signin_phone():
    _remember_next()
    if current_user.is_authenticated:
        return redirect(safe_next(session.pop("after_signin", None)) or url_for(".index"))
    form = PhoneForm()
    if form.validate_on_submit():
        try:
            message = signin.send_code(form.phone.data, now=clock.now(), locale=str(get_locale()))
        except CodeRecentlySent as exc:
            # Asked again within the minute (a double tap, the back button): the code
            # already sent is the one to enter.
            session["signin_phone"] = normalize_phone(form.phone.data)
            flash(str(exc), "info")
            return redirect(url_for(".signin_code"))
        except LinliError as exc:
            form.phone.errors.append(str(exc))
        else:
            message_id = message.id
            after_commit(lambda: delivery.deliver([message_id], clock.now))
            session["signin_phone"] = message.recipient
            return redirect(url_for(".signin_code"))
    return render_template("volunteers/signin.html", form=form)


@bp.route("/signin/code", methods=["GET", "POST"])
def signin_code():
    phone = session.get("signin_phone")
    if not phone:
        return redirect(url_for(".signin_phone"))
    form = CodeForm()
    if form.validate_on_submit():
        # A wrong code is answered with 200 so that its counted attempt is committed.
        try:
            verified = signin.check_code(phone, form.code.data, now=clock.now())
        except LinliError as exc:
            form.code.errors.append(str(exc))
        else:
            person = people.find_by_phone(verified)
            if person is not None:
                if not person.is_active:
                    abort(403)
                return _finish_signin(person)
            session["verified_phone"] = {"phone": verified, "at": clock.now().isoformat()}
            return redirect(url_for(".join"))
    return render_template(
        "volunteers/signin_code.html",
        form=form,
        phone=phone,
        resend=PhoneForm(formdata=None, phone=phone),
    )


@bp.route("/join", methods=["GET", "POST"])
def join():
    held = session.get("verified_phone")
    now = clock.now()
    if not held or datetime.fromisoformat(held["at"]) < now - JOIN_HOLD:
        session.pop("verified_phone", None)
        return redirect(url_for(".signin_phone"))
    form = JoinForm()
    form.community.choices = [SelectChoice(c.id, c.name) for c in org.communities()]
    if form.validate_on_submit():
        try:
            person = people.create_person(
                name=form.name.data,
                phone=held["phone"],
                community=org.community_by_id(form.community.data),
                now=now,
                actor=None,
                source="self",
                locale=str(get_locale()),
            )
        except LinliError as exc:
            (getattr(form, exc.field, None) or form.name).errors.append(str(exc))
        else:
            session.pop("verified_phone", None)
            flash(_("Welcome to Linli, %(name)s!", name=person.name), "info")
            return _finish_signin(person)
    return render_template("volunteers/join.html", form=form, phone=held["phone"])


# --- activities ---------------------------------------------------------------------------


@bp.route("/activities")
@login_required
def activity_list():
    now = clock.now()
    upcoming = activities.upcoming_for(current_user, now)
    return render_template(
        "volunteers/activities.html",
        upcoming=upcoming,
        signups={a.id: activities.signup_of(a, current_user) for a in upcoming},
    )


@bp.route("/activities/<int:activity_id>")
@login_required
def activity_detail(activity_id: int):
    activity = activities.get_activity(activity_id)
    signup = activities.signup_of(activity, current_user)
    return render_template(
        "volunteers/activity.html",
        activity=activity,
        signup=signup,
        position=activities.waiting_position(signup)
        if signup and signup.status == "waitlisted"
        else None,
        attendance=attendance.attendance_of(activity, current_user),
        form=ButtonForm(),
        now=clock.now(),
    )


@bp.route("/activities/<int:activity_id>/signup", methods=["POST"])
@login_required
def activity_signup(activity_id: int):
    if not ButtonForm().validate_on_submit():
        abort(400)
    activity = activities.get_activity(activity_id)
    signup = activities.sign_up(activity, current_user, now=clock.now())
    if signup.status == "confirmed":
        flash(_("You are signed up."), "info")
    else:
        flash(_("The activity is full: you are on the waiting list."), "info")
    return redirect(url_for(".activity_detail", activity_id=activity.id))


@bp.route("/activities/<int:activity_id>/cancel", methods=["POST"])
@login_required
def activity_cancel(activity_id: int):
    if not ButtonForm().validate_on_submit():
        abort(400)
    activity = activities.get_activity(activity_id)
    activities.cancel_signup(activity, current_user, now=clock.now())
    flash(_("Your sign-up is cancelled."), "info")
    return redirect(url_for(".activity_detail", activity_id=activity.id))


# --- scanning the activity's QR code ------------------------------------------------------


@bp.route("/scan/<kind>/<token>")
def scan(kind: str, token: str):
    """The URL inside the projector's QR code, opened by the phone's camera app.

    The code is checked now (it rotates), then held in the signed session for a few
    minutes, so a volunteer who has to sign in first is not sent back to the screen.
    Recording happens on the confirmation page's POST to /scan/confirm (a link preview must
    not check anyone in); with JavaScript that form sends itself at once. A volunteer who is
    signed in gets that page here, not by a redirect: one round trip fewer at the door, where
    thousands arrive at once.
    """
    now = clock.now()
    activity = scan_codes.read_scan_token(token, kind, now)
    session["scan"] = {"activity": activity.id, "kind": kind, "at": now.isoformat()}
    if not current_user.is_authenticated:
        flash(_("Sign in to finish checking in; your scan is kept for 15 minutes."), "info")
        return redirect(url_for(".signin_phone", next=url_for(".scan_confirm")))
    return _confirm_page(activity, kind, ButtonForm())


def _confirm_page(activity, kind: str, form: ButtonForm) -> str:
    return render_template("volunteers/scan_confirm.html", activity=activity, kind=kind, form=form)


def _held_scan():
    held = session.get("scan")
    if not held:
        return None
    scanned_at = datetime.fromisoformat(held["at"])
    if scanned_at < clock.now() - SCAN_HOLD:
        session.pop("scan", None)
        return None
    return activities.get_activity(held["activity"]), held["kind"], scanned_at


@bp.route("/scan/confirm", methods=["GET", "POST"])
@login_required
def scan_confirm():
    held = _held_scan()
    if held is None:
        flash(_("No recent scan. Scan the code on the screen again."), "error")
        return redirect(url_for(".index"))
    activity, kind, scanned_at = held
    form = ButtonForm()
    if form.validate_on_submit():
        session.pop("scan", None)
        # The time of the scan counts, not the time the form was sent.
        if kind == "in":
            result = attendance.check_in(activity, current_user, now=scanned_at)
        else:
            result = attendance.check_out(activity, current_user, now=scanned_at)
        return render_template(
            "volunteers/scan_done.html", activity=activity, kind=kind, result=result
        )
    return _confirm_page(activity, kind, form)


# --- history, certificate, my code --------------------------------------------------------


@bp.route("/history")
@login_required
def history():
    wallet = ledger.find_wallet(current_user)
    return render_template(
        "volunteers/history.html",
        lines=ledger.history(wallet, limit=200) if wallet else [],
        months=attendance.minutes_by_month(current_user),
        summary=people.summary(current_user, clock.now()),
    )


@bp.route("/certificate")
@login_required
def certificate():
    return render_template(
        "volunteers/certificate.html",
        person=current_user,
        attendances=attendance.approved_for(current_user),
        summary=people.summary(current_user, clock.now()),
        today=clock.local(clock.now(), current_user.community),
    )


@bp.route("/card")
@login_required
def card():
    """The electronic volunteer card (电子志愿者证): who, where, stars, hours, this year's
    points, and a QR code that opens the person in the panel for staff who scan it (it
    spends nothing: the redemption code is another page)."""
    now = clock.now()
    wallet = ledger.find_wallet(current_user)
    year = ledger.period_keys(now)[1]
    staff_link = public_url(url_for("panel.resident_detail", person_id=current_user.id))
    return render_template(
        "volunteers/card.html",
        person=current_user,
        summary=people.summary(current_user, now),
        earned_this_year=ledger.period_total(wallet, year) if wallet else 0,
        qr_svg=qr.svg(staff_link, label=_("Volunteer card: staff scan it to open your record")),
        number=f"{current_user.id:08d}",
        ratings=needs.ratings_of(current_user),
    )


@bp.route("/me/code", methods=["GET", "POST"])
@login_required
def my_code():
    """The personal code for merchants. GET shows the page; POST issues a fresh code
    (as JSON for the page's refresh script, or as the page itself without JavaScript)."""
    form = ButtonForm()
    if request.method == "GET":
        return render_template("volunteers/my_code.html", form=form, issued=None)
    if not form.validate_on_submit():
        abort(400)
    now = clock.now()
    issued = personal_codes.issue(current_user, now=now)
    svg = qr.svg(issued.token, label=_("My code for red partner shops"))
    if request.accept_mimetypes.best == "application/json":
        return jsonify(
            svg=str(svg),
            digits=issued.digits,
            expires_in=int((issued.expires_at - now).total_seconds()),
        )
    return render_template("volunteers/my_code.html", form=form, issued=issued, svg=svg, now=now)


# --- offers -------------------------------------------------------------------------------


@bp.route("/offers")
@login_required
def offer_catalogue():
    tier = request.args.get("tier") or None
    category = request.args.get("category") or None
    affordable = request.args.get("affordable") == "1"
    return render_template(
        "volunteers/offers.html",
        items=offers.catalogue(
            current_user,
            clock.now(),
            tier=tier,
            category=category,
            affordable_only=affordable,
        ),
        categories=offers.categories(),
        tier=tier,
        category=category,
        affordable=affordable,
    )


@bp.route("/offers/photo/<name>")
def offer_photo(name: str):
    return _photo("offer-photo", name)


@bp.route("/activities/photo/<name>")
def activity_photo(name: str):
    return _photo("activity-photo", name)


@bp.route("/merchants/photo/<name>")
def merchant_photo(name: str):
    return _photo("merchant-photo", name)


def _photo(kind: str, name: str):
    """A catalogue photo from the database. Its name changes with the picture, so it may be
    cached for a day and revalidated by its hash after."""
    stored = files.find(kind, name) if _PHOTO_NAME.match(name) else None
    if stored is None:
        abort(404)
    return send_file(
        io.BytesIO(stored.data),
        mimetype=stored.content_type,
        max_age=86400,
        etag=stored.sha256,
        last_modified=stored.created_at,
        conditional=True,
    )


# --- ranking boards (public) ---------------------------------------------------------------


def _board_title(scope: rankings.Scope, period: str, now: datetime) -> str:
    """Where and when, the month named ("this month (2026-12)"): with last month's board
    shown beside a thin one, a reader must see which is which."""
    months = {p: rankings.period_key(p, now).removeprefix("M") for p in ("month", "last_month")}
    periods = {
        "month": _("this month (%(month)s)", month=months["month"]),
        "last_month": _("last month (%(month)s)", month=months["last_month"]),
        "year": _("this year"),
        "all": _("all time"),
    }
    if scope.kind == "street":
        where = _("the whole street")
    elif scope.kind == "community":
        where = org.community_by_id(scope.id).name
    elif scope.kind == "grid":
        where = org.get_node(scope.id).name
    else:
        where = org.get_team(scope.id).name
    return _("Points earned %(period)s · %(where)s", period=periods[period], where=where)


def _board_args():
    period = request.args.get("period", "month")
    if period not in rankings.PERIODS:
        period = "month"
    scope = rankings.Scope.parse(request.args.get("scope"))
    if (
        scope.kind == "street"
        and request.args.get("scope") is None
        and current_user.is_authenticated
        and current_user.community_id
    ):
        scope = rankings.Scope("community", current_user.community_id)
    return scope, period


@bp.route("/boards")
def boards():
    scope, period = _board_args()
    now = clock.now()
    title = _board_title(scope, period, now)
    lines = rankings.board(scope, period, now)
    previous = None
    if period == "month" and rankings.is_thin(lines):
        previous = (
            _board_title(scope, "last_month", now),
            rankings.board(scope, "last_month", now),
        )
    mine = None
    if current_user.is_authenticated and current_user.community_id:
        mine = rankings.rank_of(current_user, scope, period, now)
    scopes = [(str(rankings.Scope("street")), _("The whole street"))]
    scopes += [(f"community:{c.id}", c.name) for c in org.communities()]
    return render_template(
        "volunteers/boards.html",
        lines=lines,
        previous=previous,
        title=title,
        scope=str(scope),
        period=period,
        scopes=scopes,
        mine=mine,
    )


@bp.route("/boards/groups")
def group_boards():
    """Boards of households (家风指数), teams, and grids by participation, per community."""
    communities = org.communities()
    community_id = request.args.get("community", type=db_id)
    if community_id is None and current_user.is_authenticated and current_user.community_id:
        community_id = current_user.community_id
    community = org.community_by_id(community_id or (communities[0].id if communities else 0))
    period = request.args.get("period", "month")
    if period not in rankings.PERIODS:
        period = "month"
    now = clock.now()
    return render_template(
        "volunteers/group_boards.html",
        community=community,
        communities=communities,
        period=period,
        households=rankings.household_board(community.id, period, now, limit=20),
        teams=rankings.team_board(community.id, period, now, limit=20),
        grids=rankings.grid_participation(community.id, now),
    )


@bp.route("/boards.json")
def boards_json():
    scope, period = _board_args()
    now = clock.now()
    lines = rankings.board(scope, period, now, limit=10)
    return jsonify(
        title=_board_title(scope, period, now),
        lines=[{"position": x.position, "name": x.name, "earned": x.earned} for x in lines],
    )


@bp.route("/boards/screen")
def board_screen():
    """The community hall's TV: full screen, big type, rotating boards (first-party JS)."""
    chosen = request.args.get("community", type=db_id)
    if chosen is None:
        communities = org.communities()
        if not communities:
            abort(404)
        chosen = communities[0].id
    community = org.community_by_id(chosen)
    now = clock.now()
    boards_shown = []
    for scope_text in (f"community:{community.id}", "street"):
        boards_shown.append((scope_text, "month"))
        # Early in a month, last month's board follows this month's thin one.
        scope = rankings.Scope.parse(scope_text)
        if rankings.is_thin(rankings.board(scope, "month", now, limit=rankings.FEW_ON_A_BOARD)):
            boards_shown.append((scope_text, "last_month"))
    boards_shown += [(f"community:{community.id}", "year"), (f"community:{community.id}", "all")]
    index = request.args.get("i", 0, type=int) % len(boards_shown)
    scope_text, period = boards_shown[index]
    scope = rankings.Scope.parse(scope_text)
    return render_template(
        "volunteers/board_screen.html",
        community=community,
        boards=[url_for(".boards_json", scope=s, period=p) for s, p in boards_shown],
        title=_board_title(scope, period, now),
        lines=rankings.board(scope, period, now, limit=10),
        next_url=url_for(".board_screen", community=community.id, i=index + 1),
    )


@bp.route("/statements/<int:statement_id>", methods=["GET", "POST"])
def statement_public(statement_id: int):
    """The published statement on public display (masked names); a resident may object to
    their own line."""
    statement = statements.get(statement_id)
    now = clock.now()
    if not statements.on_display(statement, now):
        abort(404)
    form = ButtonForm()
    mine = None
    if current_user.is_authenticated:
        mine = next(
            (line for line in statement.lines if line["person_id"] == current_user.id), None
        )
    if request.method == "POST":
        if not current_user.is_authenticated:
            return redirect(url_for(".signin_phone", next=request.path))
        if not form.validate_on_submit():
            abort(400)
        try:
            statements.object_to(statement, current_user, request.form.get("reason", ""), now=now)
        except LinliError as exc:
            rollback_unit_of_work()
            flash(str(exc), "error")
        else:
            flash(_("Your objection was sent to the community's staff."), "info")
        return redirect(url_for(".statement_public", statement_id=statement.id))
    return render_template(
        "volunteers/statement.html",
        statement=statement,
        mine=mine,
        form=form,
        names=deeds.CATEGORY_NAMES,
    )


# --- a good deed the resident reports (好人好事) ------------------------------------------


@bp.route("/deeds/report", methods=["GET", "POST"])
@login_required
def deed_report():
    if current_user.community_id is None:
        abort(403)
    form = DeedReportForm()
    if form.validate_on_submit():
        try:
            jpeg = uploaded_photo(form.photo)
            deed_reports.report(
                current_user, form.text.data, now=clock.now(), source="web", photo=jpeg
            )
        except LinliError as exc:
            rollback_unit_of_work()
            (form.photo if exc.field == "photo" else form.text).errors.append(str(exc))
        else:
            flash(
                _("Thank you! Staff will look at your good deed and tell you what they decide."),
                "info",
            )
            return redirect(url_for(".index"))
    return render_template("volunteers/deed_report.html", form=form)


# --- a 三长 writes to the residents of what they lead ------------------------------------


@bp.route("/leader/message")
@login_required
def leader_message_choice():
    led = broadcasts.led_targets(current_user)
    if not led:
        abort(404)
    if len(led) == 1:
        return redirect(url_for(".leader_message", node_id=led[0].id))
    return render_template("volunteers/leader_choice.html", led=led)


@bp.route("/leader/message/<int:node_id>", methods=["GET", "POST"])
@login_required
def leader_message(node_id: int):
    try:
        to = broadcasts.target("node", node_id)
    except LinliError:
        abort(404)
    if not broadcasts.may_send(current_user, to, set()):
        abort(404)  # not a node this person leads
    form = BroadcastForm()
    sent, preview = write_broadcast(to, form, community_ids=set(), source="web")
    if sent is not None:
        return redirect(url_for(".index"))
    return render_template("volunteers/leader_message.html", to=to, form=form, preview=preview)


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    form = ButtonForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        people.set_preferences(
            current_user,
            hide_from_boards=request.form.get("hide_from_boards") == "1",
            locale=request.form.get("locale", current_user.locale),
            now=clock.now(),
            broadcasts_off=request.form.get("broadcasts_off") == "1",
            notifications_off=request.form.get("notifications_off") == "1",
        )
        session.pop("lang", None)
        flash(_("Saved."), "info")
        return redirect(url_for(".settings"))
    return render_template("volunteers/settings.html", form=form)


@bp.app_context_processor
def volunteer_globals():
    return {"sms_demo": current_app.config["DEMO_MODE"]}

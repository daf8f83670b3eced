"""The command language, written once for every channel (SMS now, Telegram the same way).

`respond` takes who sent a message (or None for an unknown number) and its text and
returns the reply in the person's language. It never raises for what a person typed:
a refusal of the rules (an expired code, too few points) becomes a reply too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.activities import activities, attendance, scan_codes
from app.channels import outbox
from app.chat.parser import Command, digits, normalise, parse
from app.core import clock, strikes
from app.core.errors import InvalidInput, LinliError
from app.core.extensions import db
from app.models import Person
from app.partners import offers, personal_codes
from app.people import org, people
from app.points import ledger, rankings


@dataclass(frozen=True)
class Reply:
    text: str
    # A personal code's QR token, for channels that can show a picture (Telegram).
    qr_token: str | None = None


@dataclass(frozen=True)
class Sender:
    """Where a message came from: its channel, the sender's address there (an E.164 phone
    for SMS) and, for SMS, the number it was texted to (a community's Linli number)."""

    channel: str
    address: str = ""
    to: str = ""


SMS = Sender("sms")


def language_of(text: str) -> str | None:
    """The language a message is clearly written in: "zh" when it has a Chinese character,
    "en" when it has an English word typed in ASCII letters; else None (digits, "?", or
    full-width letters from a Chinese keyboard), and the person's own setting holds."""
    if re.search(r"[\u3400-\u9fff\uf900-\ufaff]", text or ""):
        return "zh"
    if re.search(r"[A-Za-z]{2,}", text or ""):
        return "en"
    return None


def respond(
    person: Person | None,
    text: str,
    *,
    now: datetime,
    locale: str = "zh",
    sender: Sender = SMS,
    detect: bool = True,
) -> Reply:
    """The reply to one message, in the language it was written in when that is clear
    (`detect`), else in the person's (or, for a stranger, `locale`)."""
    command = parse(text)
    language = (language_of(text) if detect else None) or (
        person.locale if person is not None else locale
    )
    with force_locale(language):
        if command.name == "quiet" and person is not None:
            return Reply(_no_broadcasts(person))
        if command.name in ("stop", "start", "quiet"):  # honoured for anyone, known or not
            return Reply(_opt_out(person, command.name != "start", sender, now))
        if person is None and command.name == "register" and sender.channel == "sms":
            return Reply(_register(command, sender, language, now))
        # A partner unit's operator (no community of their own) answers for requests
        # given to the unit: those commands are theirs too.
        unit_work = command.name in ("take", "done", "release")
        if person is None or (person.community_id is None and not unit_work):
            return Reply(_unknown_sender(sender))
        asks = normalise(text).startswith(("help", "帮助"))  # not "?" or 菜单 with words
        if command.name == "help" and asks and len(command.typed) > 1:  # HELP the tap leaks
            command = Command("need", command.argument, command.typed, command.said)
        elif command.name == "unknown" and re.fullmatch(r"[12](\s.*)?", command.argument):
            command = Command("answer", command.argument, command.typed, command.said)
        handler = HANDLERS.get(command.name, _help)
        try:
            with db.session.begin_nested():
                answer = handler(person, command, now)
        except LinliError as exc:
            # The handler's work is undone; wrong guesses it counted are kept.
            return Reply(str(strikes.record_refusal(exc, now)))
        return answer if isinstance(answer, Reply) else Reply(answer)


def _unknown_sender(sender: Sender) -> str:
    if sender.channel == "sms":
        return _(
            "Linli: this number is not registered yet. To join, text 注册 and your name "
            "(REGISTER Zhang Ming)."
        )
    return _(
        "Linli: this number is not registered. Ask your community's social worker to add "
        "you, or sign up at the community's Linli page."
    )


def _opt_out(person: Person | None, stop: bool, sender: Sender, now: datetime) -> str:
    """STOP / START: the person's notifications, and for a text message the number itself
    (carriers require that a STOP from any number is honoured and acknowledged)."""
    if person is not None:
        person.notifications_off = stop
        person.broadcasts_off = stop
    if sender.channel == "sms" and sender.address:
        if stop:
            outbox.stop_texts(sender.address, now)
        else:
            outbox.start_texts(sender.address)
    db.session.flush()
    if stop:
        return _("Linli: you will get no more messages. Text 订阅 (START) to have them again.")
    return _(
        "Linli: messages are on again. Text 退订 (TD) to stop group messages, 全部退订 (STOP) "
        "to stop everything."
    )


def _no_broadcasts(person: Person) -> str:
    """退订 from a resident: group messages stop; their own notices (points, reminders,
    answers) go on."""
    person.broadcasts_off = True
    db.session.flush()
    return _(
        "Linli: you will get no more group messages; your own notices (points, reminders, "
        "answers) still come. Text 全部退订 (STOP) to stop everything, 订阅 (START) to have "
        "group messages again."
    )


def _register(command: Command, sender: Sender, language: str, now: datetime) -> str:
    """注册 张明 [N]: a new number joins its community: the one whose Linli number it texted,
    else the N-th of the list this reply gives."""
    name, _space, number = command.typed.rpartition(" ")
    if not number.isdigit():
        name, number = command.typed, ""
    if not name.strip():
        return _("To join, text 注册 and your name, e.g. 注册 张明 (REGISTER Zhang Ming).")
    try:
        name = people.clean_name(name)
    except LinliError as exc:
        return str(exc)
    community = org.community_texted(sender.to)
    if community is None:
        choices = org.communities()
        if number and 1 <= int(number) <= len(choices):
            community = choices[int(number) - 1]
        else:
            lines = [f"{n}. {c.name}" for n, c in enumerate(choices, start=1)]
            ask = _(
                "Which community do you live in? Text 注册 %(name)s and its number, "
                "e.g. 注册 %(name)s 1:",
                name=name,
            )
            return "\n".join([ask, *lines])
    try:
        with db.session.begin_nested():
            person = people.create_person(
                name=name,
                phone=sender.address,
                community=community,
                now=now,
                actor=None,
                source="sms",
                locale=language,
            )
    except LinliError as exc:
        return str(exc)
    return _(
        "Welcome to Linli, %(name)s! You are registered in %(community)s. Text 帮助 (HELP) "
        "for the commands.",
        name=person.name,
        community=community.name,
    )


def _help(person: Person, command: Command, now: datetime) -> str:
    return _(
        "Linli commands: 积分 BAL balance · 记录 HIST history · 排行 TOP ranking · "
        "签到 1234 CHECKIN · 签退 1234 CHECKOUT · 活动 EVENTS · 报名 N JOIN · "
        "兑换码 CODE · 商家 SHOPS · 求助 HELP … · 需求 NEEDS · 接单 N TAKE · 完成 N DONE · "
        "退订 TD · 全部退订 STOP / 订阅 START · EN / 中文"
    )


def _balance(person: Person, command: Command, now: datetime) -> str:
    from app.points import honours

    summary = people.summary(person, now)
    titles = [f"{h.title}({h.period})" for h in honours.of(person)[:3]]
    return (" ".join(titles) + " " if titles else "") + _(
        "%(name)s: %(balance)s points to spend, %(earned)s earned this month, "
        "%(hours)s verified hours, %(stars)s stars.",
        name=person.name,
        balance=summary.balance,
        earned=summary.earned_this_month,
        hours=f"{summary.verified_minutes / 60:.1f}",
        stars=summary.star.stars,
    )


HISTORY_PAGE = 5
MEMO_WIDTH = 18  # characters of a history line's memo: five lines and "more" in 4 parts


def _history(person: Person, command: Command, now: datetime) -> str:
    """记录 [page]: five entries a page, newest first, each on one line."""
    page = max(1, min(int(digits(command.argument)[:3] or 1), 100))
    wallet = ledger.find_wallet(person)
    rows = (
        ledger.history(wallet, limit=HISTORY_PAGE + 1, offset=(page - 1) * HISTORY_PAGE)
        if wallet
        else []
    )
    if not rows:
        if page > 1:
            return _("No more entries. Text 记录 (HIST) for the newest.")
        return _("No points yet. Text 活动 (EVENTS) to find an activity.")
    lines = [
        f"{clock.local(txn.created_at, person.community):%m-%d} {entry.amount:+d} "
        + _shortened(txn.memo, MEMO_WIDTH)
        for entry, txn in rows[:HISTORY_PAGE]
    ]
    if len(rows) > HISTORY_PAGE:
        lines.append(_("More: text 记录 %(page)s (HIST %(page)s)", page=page + 1))
    return "\n".join(lines)


def _shortened(text: str, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _language(code: str):
    def handle(person: Person, command: Command, now: datetime) -> str:
        person.locale = code
        db.session.flush()
        with force_locale(code):
            if code == "en":
                return _("Linli will answer you in English from now on. Text 中文 to switch back.")
            return _("Linli will answer you in Chinese from now on. Text EN to switch back.")

    return handle


def _top(person: Person, command: Command, now: datetime) -> str:
    assert person.community_id is not None  # respond() answers others before any command
    board = rankings.community_top_this_month(person.community_id, now, limit=10)
    mine = rankings.community_rank_this_month(person, now)
    lines = [f"{line.position}. {_shortened(line.name, 10)} {line.earned}" for line in board]
    if mine.position:
        lines.append(
            _("You: No. %(n)s with %(points)s points.", n=mine.position, points=mine.earned)
        )
    else:
        lines.append(_("You have not earned points this month yet."))
    return "\n".join(lines) if board else lines[-1]


def _scan(kind: str):
    def handle(person: Person, command: Command, now: datetime) -> str:
        activity = scan_codes.find_by_short_code(person, digits(command.argument), kind, now)
        if kind == "in":
            result = attendance.check_in(activity, person, now=now, method="chat")
            at = clock.local(result.attendance.checked_in_at, activity.community)
            if result.repeated:
                return _("You already checked in at %(time)s.", time=f"{at:%H:%M}")
            return _(
                "Checked in to %(title)s at %(time)s.", title=activity.title, time=f"{at:%H:%M}"
            )
        result = attendance.check_out(activity, person, now=now)
        record = result.attendance
        if result.repeated:
            return _("Your attendance was already closed.")
        if record.status == "approved":
            return _(
                "Checked out: %(minutes)s minutes, %(points)s points.",
                minutes=record.minutes,
                points=record.points,
            )
        return _(
            "Checked out: %(minutes)s minutes, waiting for staff approval.",
            minutes=record.minutes,
        )

    return handle


def _events(person: Person, command: Command, now: datetime) -> str:
    upcoming = activities.upcoming_for(person, now, limit=5)
    if not upcoming:
        return _("No activities coming up in your community right now.")
    lines = [
        f"{a.id}. {clock.local(a.starts_at, a.community):%m-%d %H:%M} {_shortened(a.title, 16)}"
        + (f" @{_shortened(a.place, 10)}" if a.place else "")
        for a in upcoming
    ]
    lines.append(_("To sign up, text 报名 and the number (JOIN N)."))
    return "\n".join(lines)


def _join(person: Person, command: Command, now: datetime) -> str:
    number = digits(command.argument)
    if not number:
        return _("Text 报名 and the activity's number from 活动, e.g. 报名 12.")
    activity = activities.get_activity(int(number))
    if activity not in activities.upcoming_for(person, now, limit=200):
        return _("There is no such activity.")
    signup = activities.sign_up(activity, person, now=now)
    if signup.status == "confirmed":
        return _("You are signed up for %(title)s.", title=activity.title)
    return _(
        "%(title)s is full: you are number %(n)s on the waiting list.",
        title=activity.title,
        n=activities.waiting_position(signup),
    )


def _code(person: Person, command: Command, now: datetime) -> Reply:
    issued = personal_codes.issue(person, now=now, lifetime=personal_codes.READ_OUT_LIFETIME)
    text = _(
        "Your redemption code: %(code)s. Read it to the shop within 5 minutes; it works once.",
        code=issued.digits,
    )
    return Reply(text, qr_token=issued.token)


def _shops(person: Person, command: Command, now: datetime) -> str:
    items = offers.catalogue(person, now)
    cheapest: dict[int, offers.Availability] = {}
    for item in items:
        best = cheapest.get(item.offer.merchant_id)
        if best is None or item.offer.points_cost < best.offer.points_cost:
            cheapest[item.offer.merchant_id] = item
    if not cheapest:
        return _("No partner shops serve your community yet.")
    return "\n".join(
        f"{_shortened(item.offer.merchant.name, 10)}: {_shortened(item.offer.title, 14)} "
        f"{item.offer.points_cost}"
        for item in list(cheapest.values())[:6]
    )


def _deed(person: Person, command: Command, now: datetime) -> str:
    """好人好事 …: a good deed the resident reports, for staff to award or decline."""
    from app.points import deed_reports

    if not command.said:
        return _(
            "Text 好人好事 and what you did, for whom and where, e.g. 好人好事 帮3号楼王奶奶买菜."
        )
    deed_reports.report(person, command.said, now=now, source="sms")
    return _("Thank you! Staff will look at your good deed and tell you what they decide.")


def _need(person: Person, command: Command, now: datetime) -> str:
    """求助 … / HELP …: a need, of the kind its words name, sent to the 三长 of the home."""
    from app.points import needs

    if not command.said:
        return _("Text HELP and what you need, e.g. HELP the kitchen tap leaks.")
    kind = needs.kind_for_text(person.community_id or 0, command.said)
    need = needs.post(person, command.said, kind=kind, now=now, source="text")
    return _(
        "Your request #%(id)s (%(kind)s) was sent to %(step)s. You will be told who takes it. "
        "To withdraw it, text CANCEL %(id)s.",
        id=need.id,
        kind=kind.name,
        step=needs.STEP_NAMES[need.step],
    )


def _need_number(command: Command, example: str) -> int:
    number = digits(command.argument.split(" ")[0]) if command.argument else ""
    if not number:
        raise InvalidInput(
            _l("Text the word and the request's number, e.g. %(example)s."), example=example
        )
    return int(number)


def _needs(person: Person, command: Command, now: datetime) -> str:
    """需求: the open needs of the volunteer's grid (or the community's), oldest first."""
    from app.points import needs

    found = needs.open_for(person, limit=5) or needs.open_for(person, whole_community=True, limit=5)
    if not found:
        return _("No open requests in your community right now. Thank you for asking!")
    lines = [
        f"#{n.id} {_shortened(n.kind.name, 8)} {_shortened(n.text, 24)}"
        + (f" @{_shortened(n.grid.name, 8)}" if n.grid else "")
        for n in found
    ]
    lines.append(_("To take one, text TAKE and its number."))
    return "\n".join(lines)


def _take(person: Person, command: Command, now: datetime) -> str:
    from app.points import needs

    need = needs.get(_need_number(command, "接单 12"), person)
    needs.take(need, person, now=now, source="text")
    return _(
        "Request #%(id)s is yours: %(text)s. When it is done, text DONE %(id)s; if you "
        "cannot, text RELEASE %(id)s.",
        id=need.id,
        text=_shortened(need.text, 60),
    )


def _release(person: Person, command: Command, now: datetime) -> str:
    from app.points import needs

    need = needs.get(_need_number(command, "放弃 12"), person)
    needs.release(need, person, now=now, source="text")
    return _("Request #%(id)s is open again for someone else.", id=need.id)


def _done(person: Person, command: Command, now: datetime) -> str:
    from app.points import needs

    need = needs.get(_need_number(command, "完成 12"), person)
    note = command.said.split(" ", 1)[1] if " " in command.said else ""
    needs.done(need, person, note=note, now=now, source="text")
    return _(
        "Thank you! The resident is asked to confirm #%(id)s; you are paid when they do.",
        id=need.id,
    )


def _answer(person: Person, command: Command, now: datetime) -> str:
    """1 / 2 …: the resident's answer to "is your request done?" (the oldest asked)."""
    from app.points import needs

    need = needs.waiting_confirmation(person)
    if need is None:
        return _("Nothing of yours is waiting for a confirmation.")
    if command.argument.startswith("1"):
        needs.confirm(need, person, now=now, source="text")
        return _(
            "Thank you for confirming #%(id)s. How was the help? Text RATE and 1 to 5, "
            "e.g. RATE 5 very quick.",
            id=need.id,
        )
    reason = command.said[1:].strip()
    if not reason:
        return _("Text 2 and what is still wrong, e.g. 2 it still leaks.")
    needs.dispute(need, person, reason=reason, now=now, source="text")
    return _("We told the staff that #%(id)s is not done yet; they will look at it.", id=need.id)


def _rate(person: Person, command: Command, now: datetime) -> str:
    from app.points import needs

    need = needs.waiting_rating(person)
    stars = command.argument[:1]
    if need is None:
        return _("Nothing of yours is waiting for a rating.")
    if not stars.isdigit():
        return _("Text RATE and 1 to 5, e.g. RATE 5 very quick.")
    comment = command.said[1:].strip()
    needs.rate(need, person, int(stars), comment=comment, now=now)
    return _("Thank you! Your rating of #%(id)s was given to the volunteer.", id=need.id)


def _withdraw(person: Person, command: Command, now: datetime) -> str:
    from app.points import needs

    need = needs.get(_need_number(command, "撤销 12"), person)
    needs.close(need, actor=person, reason="", now=now)
    return _("Your request #%(id)s is withdrawn.", id=need.id)


def _registered(person: Person, command: Command, now: datetime) -> str:
    return _("This number is already registered, to %(name)s.", name=person.name)


def _object(person: Person, command: Command, now: datetime) -> str:
    from app.points import statements

    assert person.community_id is not None  # as in _top
    statement = statements.current_for(person.community_id, now)
    if statement is None:
        return _("No statement of your community is on display now.")
    if not command.argument:
        return _("Text 异议 and what is wrong with your line, e.g. 异议 义诊只记了1小时.")
    statements.object_to(statement, person, command.said, now=now)
    return _(
        "Your objection to the %(month)s statement was sent to the staff.", month=statement.month
    )


def _link(person: Person, command: Command, now: datetime) -> str:
    return _("Your phone number is already your Linli account here; nothing to link.")


HANDLERS = {
    "help": _help,
    "unknown": _help,
    "balance": _balance,
    "history": _history,
    "top": _top,
    "checkin": _scan("in"),
    "checkout": _scan("out"),
    "events": _events,
    "join": _join,
    "code": _code,
    "shops": _shops,
    "link": _link,
    "object": _object,
    "english": _language("en"),
    "chinese": _language("zh"),
    "register": _registered,
    "deed": _deed,
    "need": _need,
    "needs": _needs,
    "take": _take,
    "release": _release,
    "done": _done,
    "answer": _answer,
    "rate": _rate,
    "withdraw": _withdraw,
}

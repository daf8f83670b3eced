"""Flask commands (`flask --app wsgi COMMAND --help`). Each command is one unit of work:
it commits once when it succeeds and writes nothing when it fails."""

from __future__ import annotations

import functools
import signal
import sys
import threading
import uuid
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Blueprint, current_app
from flask.cli import AppGroup, FlaskGroup
from flask_babel import gettext as _
from flask_migrate import upgrade

from app import bench_seed, demo
from app.activities import activities, attendance
from app.channels import delivery, outbox
from app.core import clock
from app.core.database import commit_chunk, commit_unit_of_work, read_only, rollback_unit_of_work
from app.core.errors import LinliError
from app.core.extensions import db
from app.core.phones import display_phone
from app.partners import partners, personal_codes
from app.people import api_tokens, org, people, residents_import
from app.points import awards, board_counts, ledger, needs

bp = Blueprint("cli", __name__, cli_group=None)


def unit_of_work(func):
    """Commit once on success; on a domain error roll back and exit 1 with its message."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            result = func(*args, **kwargs)
        except LinliError as exc:
            rollback_unit_of_work()
            field = f" [{exc.field}]" if exc.field else ""
            raise click.ClickException(f"{exc}{field}") from None
        except BaseException:
            rollback_unit_of_work()
            raise
        commit_unit_of_work()
        return result

    return wrapper


@bp.cli.command("init-db")
def init_db():
    """Create or upgrade the database schema (runs the Alembic migrations)."""
    upgrade()
    click.echo(_("The database is up to date."))


@bp.cli.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has people.")
@unit_of_work
def seed_demo(if_empty: bool):
    """Load the demo street: 3 communities, ~300 residents, teams, merchants, history."""
    if not current_app.config["DEMO_MODE"]:
        raise click.ClickException(_("Demo data is not loaded in production."))
    if demo.is_seeded():
        if if_empty:
            click.echo(_("The database already has data; demo data not loaded."))
            return
        raise click.ClickException(
            _("The database already has people in it; seed-demo only fills an empty one.")
        )
    total = len(demo.COMMUNITIES) * demo.RESIDENTS_PER_COMMUNITY
    with click.progressbar(length=total, label=_("Creating residents")) as bar:
        counts = demo.seed(clock.now(), progress=bar.update)
    click.echo(
        _(
            "Demo street loaded: %(communities)s communities, %(residents)s residents, "
            "%(merchants)s merchants, %(awards)s awards, %(activities)s activities, "
            "%(redemptions)s redemptions.",
            **counts,
        )
    )


@bp.cli.command("bench-seed")
@click.option("--residents", type=click.IntRange(1, 10_000_000), default=1_000_000)
@click.option("--entries", type=click.IntRange(2, 100_000_000), default=2_000_000)
@click.option("--communities", type=click.IntRange(1, 10_000), default=None)
def seed_bench(residents: int, entries: int, communities: int | None):
    """Fill an empty database with a made-up city for bench/ (default: a million residents,
    two million ledger entries, a community per 10,000 residents), in set-based SQL."""
    if demo.is_seeded():
        raise click.ClickException(
            _("The database already has people in it; bench-seed only fills an empty one.")
        )
    communities = communities or max(1, residents // 10_000)

    def progress(step, seconds: float) -> None:
        click.echo(_("%(step)s done after %(seconds)s s", step=step, seconds=f"{seconds:.0f}"))

    try:
        made = bench_seed.seed(
            residents=residents,
            entries=entries,
            communities=communities,
            now=clock.now(),
            progress=progress,
        )
        commit_unit_of_work()
    except BaseException:
        rollback_unit_of_work()
        raise
    # Fresh statistics for the planner, outside any transaction.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))
    click.echo(
        _(
            "Made %(communities)s communities, %(residents)s residents, %(entries)s ledger "
            "entries and %(board_rows)s board count rows.",
            **made,
        )
    )


@bp.cli.command("create-community")
@click.argument("name")
@click.option("--street", default=demo.STREET, show_default=True, help="The street it belongs to.")
@click.option("--budget", type=int, default=None, help="Monthly points budget (default: none).")
@unit_of_work
def create_community(name: str, street: str, budget: int | None):
    """Create a community (with its points issuance account)."""
    community = org.create_community(
        name, street=org.get_or_create_street(street), monthly_budget=budget
    )
    click.echo(_("Community “%(name)s” created (#%(id)s).", name=community.name, id=community.id))


@bp.cli.command("create-merchant")
@click.argument("name")
@click.option(
    "--tier",
    type=click.Choice(["street", "community"]),
    required=True,
    help="street: serves every community; community: the ones given with --community.",
)
@click.option("--community", "communities", multiple=True, help="For --tier community; repeatable.")
@click.option("--category", default="餐饮", show_default=True, help="e.g. 餐饮, 理发, 超市.")
@click.option("--address", default="")
@click.option("--hours", "opening_hours", default="", help="Opening hours, e.g. 09:00-21:00.")
@unit_of_work
def create_merchant(name, tier, communities, category, address, opening_hours):
    """Create a red partner (红色合伙人) with its points account; add operators with
    create-user --role merchant --merchant NAME, or in the panel."""
    if tier == "street" and communities:
        raise click.ClickException(
            _("A street-level partner serves every community; leave out --community.")
        )
    merchant = partners.create_partner(
        partners.PartnerFields(
            name=name,
            tier=tier,
            category=category,
            address=address,
            opening_hours=opening_hours,
            community_ids=[org.get_community(c).id for c in communities],
        ),
        actor=None,
        now=clock.now(),
        source="cli",
    )
    click.echo(
        _(
            "Red partner “%(name)s” created (#%(id)s), serving %(communities)s.",
            name=merchant.name,
            id=merchant.id,
            communities="、".join(c.name for c in merchant.communities),
        )
    )


@bp.cli.command("create-user")
@click.option(
    "--role",
    type=click.Choice(["staff", "admin", "merchant"]),
    required=True,
    help="staff: social worker; admin: street administrator; merchant: merchant operator.",
)
@click.option("--name", required=True)
@click.option("--phone", required=True)
@click.option("--login", default=None, help="Optional login name besides the phone number.")
@click.option("--community", "communities", multiple=True, help="For staff; repeatable.")
@click.option("--merchant", default=None, help="For a merchant operator: the merchant's name.")
@click.password_option(help="At least 8 characters; asked for when not given.")
@click.option(
    "--reset-password",
    is_flag=True,
    help="The phone already has an account: give it this new password (ends its sessions).",
)
@unit_of_work
def create_user(role, name, phone, login, communities, merchant, password, reset_password):
    """Create a staff member, street administrator or merchant operator."""
    shop = None
    if merchant:
        shop = partners.find_by_name(merchant)
        if shop is None:
            raise click.ClickException(_("There is no merchant named “%(name)s”.", name=merchant))
    person = people.create_user(
        kind=role,
        name=name,
        phone=phone,
        password=password,
        login=login,
        communities=[org.get_community(c) for c in communities],
        merchant=shop,
        now=clock.now(),
        actor=None,
        source="cli",
        reset_password=reset_password,
    )
    click.echo(
        _("User %(name)s (%(phone)s) can now sign in.", name=person.name, phone=person.phone)
    )


@bp.cli.command("import-residents")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--community", required=True, help="The community the residents live in.")
@click.option("--commit", "write", is_flag=True, help="Write the changes (default: dry run).")
@click.option("--skip-bad", is_flag=True, help="Import the good rows even when some are bad.")
@unit_of_work
def import_residents(file: Path, community: str, write: bool, skip_bad: bool):
    """Import residents from a CSV file (phone, name[, grid, building, unit, room, tags])."""
    target = org.get_community(community)
    # The CLI is the operator's: it may move people between communities.
    record, plan = residents_import.check(
        file.read_bytes(), target, may_move=True, actor=None, file_name=file.name, now=clock.now()
    )
    click.echo(
        _(
            "%(file)s (%(encoding)s): %(new)s new, %(updated)s to update, %(moved)s moving "
            "from another community, %(same)s unchanged, %(bad)s bad.",
            file=file.name,
            encoding=plan.encoding,
            new=plan.count("create"),
            updated=plan.count("update"),
            moved=plan.count("move"),
            same=plan.count("unchanged"),
            bad=len(plan.errors),
        )
    )
    for error in plan.errors:
        where = f" [{error.field}]" if error.field else ""
        click.echo(
            _(
                "line %(line)s%(where)s: %(message)s",
                line=error.line,
                where=where,
                message=error.message,
            ),
            err=True,
        )
    if plan.errors and not skip_bad:
        raise click.ClickException(
            _("Nothing imported: fix the bad rows, or use --skip-bad to import the others.")
        )
    if not write:
        rollback_unit_of_work()  # the check is not kept either
        click.echo(_("Dry run: nothing was written. Run again with --commit to import."))
        return
    # Each chunk is committed as it is written (no write lock held for long); after an
    # interruption the same command goes on: rows already written are found unchanged.
    with click.progressbar(length=len(plan.rows), label=_("Importing")) as bar:
        record = residents_import.run(
            record,
            skip_bad=skip_bad,
            now=clock.now(),
            actor=None,
            source="cli",
            checkpoint=commit_chunk,
            progress=bar.update,
        )
    click.echo(_("Imported: %(count)s people created or changed.", count=record.changed))


# A negative number ("-5") is read as the POINTS argument and refused with a clear
# message, not as an unknown option.
@bp.cli.command("award", context_settings={"ignore_unknown_options": True})
@click.argument("phone")
@click.argument("points", type=str)
@click.option("--reason", required=True, help="Why the points are awarded (shown to the person).")
@click.option("--key", default=None, help="Idempotency key; repeating a key awards only once.")
@click.option("--over-budget", is_flag=True, help="Issue past the community's monthly budget.")
@unit_of_work
def award(phone: str, points: str, reason: str, key: str | None, over_budget: bool):
    """Award POINTS to the resident with PHONE, from their community's issuance account."""
    try:
        amount = int(points.strip())
    except ValueError:
        raise click.ClickException(
            _("Points must be a whole number above zero, not “%(value)s”.", value=points)
        ) from None
    person = people.get_by_phone(phone)
    txn = awards.award(
        person,
        amount,
        reason=reason,
        idempotency_key=key or f"cli-{uuid.uuid4()}",
        now=clock.now(),
        actor=None,
        source="cli",
        may_exceed_budget=over_budget,
    )
    wallet = ledger.wallet_for(person)
    if txn.replayed:
        click.echo(_("Already awarded earlier with this key (transaction #%(id)s).", id=txn.id))
    else:
        click.echo(
            _(
                "Awarded %(points)s points to %(name)s (transaction #%(id)s); balance %(balance)s.",
                points=amount,
                name=person.name,
                id=txn.id,
                balance=ledger.balance(wallet),
            )
        )


@bp.cli.command("balance")
@click.argument("phone")
def balance(phone: str):
    """Print a resident's balance, points earned this month and verified hours."""
    with read_only():
        try:
            person = people.get_by_phone(phone)
        except LinliError as exc:
            raise click.ClickException(str(exc)) from None
        info = people.summary(person, clock.now())
    click.echo(f"{person.name} ({display_phone(person.phone)})")
    click.echo(_("Balance: %(points)s points", points=info.balance))
    click.echo(_("Earned this month: %(points)s points", points=info.earned_this_month))
    click.echo(
        _(
            "Verified service: %(hours)s h %(minutes)s min (%(stars)s★)",
            hours=info.verified_minutes // 60,
            minutes=info.verified_minutes % 60,
            stars=info.star.stars,
        )
    )


@bp.cli.command("ledger-check")
@click.option(
    "--exact",
    is_flag=True,
    help="Check every invariant row by row, not first by the weighted-sum proof (PostgreSQL).",
)
def ledger_check(exact):
    """Verify every ledger invariant; exits 1 with a report when one fails."""
    with read_only():
        problems = ledger.check(exact=exact)
    if problems:
        click.echo(_("The ledger has %(count)s problem(s):", count=len(problems)), err=True)
        for line in problems:
            click.echo(f"  - {line}", err=True)
        sys.exit(1)
    click.echo(_("Ledger OK: every transaction balances and every cached total is right."))


@bp.cli.command("rebuild-boards")
@unit_of_work
def rebuild_boards():
    """Recompute the boards' counts from the period totals (when ledger-check finds them
    off, or after loading totals by hand). One transaction: ranks read the old counts until
    it commits."""
    rows = board_counts.rebuild()
    click.echo(_("The boards' counts were rebuilt: %(rows)s rows.", rows=rows))


@bp.cli.command("close-attendances")
@unit_of_work
def close_attendances():
    """Close attendances nobody checked out of once check-out has closed (run from cron).

    Their time runs to the scheduled end and is marked unverified, waiting for staff.
    """
    closed = attendance.close_overdue(clock.now())
    click.echo(_("%(count)s attendances without a check-out were closed.", count=closed))


@bp.cli.command("purge")
@unit_of_work
def purge():
    """Delete what has outlived its retention (run from cron once a day): API answers kept
    for Idempotency-Keys (LINLI_IDEMPOTENCY_HOURS), run-out rate-limit windows and
    wrong-guess counts, long-expired redemption codes, resident imports checked and never
    confirmed (24 h), delivered or given-up messages (LINLI_KEEP_OUTBOX_DAYS) and received
    ones (LINLI_KEEP_INBOUND_DAYS). Each table goes a chunk at a time: safe to interrupt."""
    from app.api import idempotency
    from app.channels import inbound
    from app.core import files, strikes
    from app.core.rate_limits import DatabaseStorage

    now = clock.now()
    config = current_app.config
    steps = [
        (_("kept API answers"), lambda: idempotency.purge(now)),
        (_("rate-limit windows"), lambda: DatabaseStorage().purge() + strikes.purge(now)),
        (_("expired redemption codes"), lambda: personal_codes.purge(now)),
        (
            _("unconfirmed resident imports"),
            lambda: files.purge(now, checkpoint=commit_chunk) + residents_import.purge(now),
        ),
        (
            _("sent messages"),
            lambda: outbox.purge(now, config["KEEP_OUTBOX_DAYS"], checkpoint=commit_chunk),
        ),
        (
            _("received messages"),
            lambda: inbound.purge(now, config["KEEP_INBOUND_DAYS"], checkpoint=commit_chunk),
        ),
    ]
    for what, step in steps:
        gone = step()
        commit_chunk()
        click.echo(_("%(what)s: %(count)s deleted", what=what, count=gone))


@bp.cli.command("purge-api-records", hidden=True)
@click.pass_context
def purge_api_records(ctx):
    """The old name of `purge`, for crontabs written before it."""
    ctx.invoke(purge)


@bp.cli.command("create-token")
@click.option("--user", "who", required=True, help="Phone number or login name.")
@click.option("--name", default="api", show_default=True, help="What the token is for.")
@unit_of_work
def create_token(who: str, name: str):
    """Make an API token for a person; it is printed once and kept only as a hash."""
    person = people.find_by_login(who)
    if person is None:
        raise click.ClickException(_("Nobody is registered with this phone number or login."))
    row, token = api_tokens.create(person, name=name, actor=None, now=clock.now())
    click.echo(_("Token #%(id)s for %(name)s (shown only now):", id=row.id, name=person.name))
    click.echo(token)


@bp.cli.command("revoke-token")
@click.argument("token_id", type=int)
@unit_of_work
def revoke_token(token_id: int):
    """Stop an API token from working."""
    api_tokens.revoke(token_id, actor=None, now=clock.now())
    click.echo(_("Token #%(id)s is revoked.", id=token_id))


outbox_cli = AppGroup("outbox", help="Deliver queued messages (SMS, Telegram).")
telegram_cli = AppGroup("telegram", help="The Telegram bot.")


@unit_of_work
def outbox_reminders() -> None:
    activities.send_reminders(clock.now())
    needs.escalate_due(clock.now())


def _report(report) -> None:
    click.echo(
        _(
            "Sent %(sent)s, will retry %(retrying)s, failed %(failed)s.",
            sent=report.sent,
            retrying=report.retrying,
            failed=report.failed,
        )
    )


@outbox_cli.command("send")
def outbox_send():
    """Deliver every message that is due now, once."""
    _report(delivery.deliver_due(clock.now))


@outbox_cli.command("remind")
@unit_of_work
def outbox_remind():
    """Queue the "starts in an hour" reminders that are due (run it every few minutes)."""
    count = activities.send_reminders(clock.now())
    click.echo(_("%(count)s reminders queued.", count=count))


@outbox_cli.command("escalate")
@unit_of_work
def outbox_escalate():
    """Pass each request (需求) whose triage step is overdue to the next step, with a notice
    (the runner does this on every look; run it every few minutes without the runner)."""
    count = needs.escalate_due(clock.now())
    click.echo(_("%(count)s overdue requests passed on.", count=count))


@outbox_cli.command("run")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between looks.")
@click.option("--batch", default=100, show_default=True, help="Messages claimed at a time.")
def outbox_run(interval: float, batch: int):
    """Keep delivering messages as they fall due, until stopped (run it as a service).

    SIGTERM or Ctrl-C stops it after the batch in hand is sent and recorded, so no message
    goes twice. Several may run at once (on one server or several): each claims its own
    messages. Killed outright, a message being sent keeps its claim for two minutes and is
    then tried again: nothing is lost.
    """
    stop = threading.Event()

    def finish(signum, _frame):
        click.echo(_("Stopping after the messages in hand..."), err=True)
        stop.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    while not stop.is_set():
        outbox_reminders()
        report = delivery.deliver_due(clock.now, limit=batch)
        if report.sent or report.retrying or report.failed:
            _report(report)
        if report.claimed < batch:  # a full batch means more are due: no pause
            stop.wait(interval)
    click.echo(_("Stopped."))


@outbox_cli.command("failed")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
def outbox_failed(limit: int):
    """List messages given up on: id, channel, kind, recipient, tries, the last error."""
    with read_only():
        found = outbox.failed(limit)
    if not found:
        click.echo(_("No message has failed."))
    for message in found:
        click.echo(
            f"#{message.id}  {message.channel}  {message.kind}  …{message.recipient[-4:]}  "
            f"{clock.local(message.created_at, None).strftime('%Y-%m-%d %H:%M')}  "
            + _("%(count)s tries", count=message.attempts)
            + f"  {message.last_error}"
        )


@outbox_cli.command("retry")
@click.argument("message_ids", nargs=-1, type=int, required=True)
@unit_of_work
def outbox_retry(message_ids: tuple[int, ...]):
    """Queue failed messages (by id, from `outbox failed`) to be sent again."""
    for message_id in message_ids:
        outbox.retry(message_id, clock.now())
        click.echo(_("Message #%(id)s is queued again.", id=message_id))


@telegram_cli.command("set-webhook")
@click.argument("url")
def telegram_set_webhook(url: str):
    """Tell Telegram to post updates to URL (…/chat/telegram/webhook) with our secret."""
    from app.channels.sms import SendFailed
    from app.channels.telegram import BotApi

    token = current_app.config["TELEGRAM_BOT_TOKEN"]
    secret = current_app.config["TELEGRAM_WEBHOOK_SECRET"]
    if not token or not secret:
        raise click.ClickException(_("Set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET first."))
    if not url.startswith("https://"):
        raise click.ClickException(_("Telegram only posts to https:// addresses."))
    api = BotApi(token, current_app.config["TELEGRAM_API_URL"], current_app.config["SEND_TIMEOUT"])
    try:
        api.call(
            "setWebhook",
            {"url": url, "secret_token": secret, "allowed_updates": ["message"]},
        )
    except SendFailed as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_("Telegram will post updates to %(url)s.", url=url))


bp.cli.add_command(outbox_cli)
bp.cli.add_command(telegram_cli)


class LinliGroup(FlaskGroup):
    """The `linli` command: Flask's command line with the app, and a database that is not
    there (not yet migrated, not reachable) said in a sentence instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            raise click.ClickException(database_problem(exc)) from None


def database_problem(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig or exc)
    if "no such table" in text or "does not exist" in text and "relation" in text:
        return _("The database has no Linli tables yet: run `linli init-db` first.")
    url = sa.engine.make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    return _(
        "Cannot reach the database %(url)s: %(reason)s. Is it running, and is DATABASE_URL right?",
        url=url.render_as_string(hide_password=True),
        reason=text.strip().splitlines()[0] if text.strip() else type(exc.orig).__name__,
    )


def main() -> None:
    """`linli …` (pyproject.toml): settings that stop the start are said, not traced back."""
    from app.core.config import ConfigError

    try:
        import wsgi
    except ConfigError as exc:
        click.echo(f"linli: {exc}", err=True)
        sys.exit(2)
    # Flask's commands and Linli's with wsgi's app, no --app needed.
    LinliGroup(
        create_app=lambda: wsgi.app, load_dotenv=False, help="Linli: 邻里 volunteer credit."
    ).main()

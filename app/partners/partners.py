"""Red partners (红色合伙人) as the street office keeps them: create and edit, pause, resume and
end a partnership, and the shop operators who work for each.

Who may do what: the street administrator anything. A social worker creates and edits
community-level partners of their own communities (live at once) and may propose a
street-level one, which waits for the administrator's approval; a street-level partner
serves every community of the street, including ones created later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.channels import outbox
from app.core import audit, files
from app.core.database import rows_changed
from app.core.errors import BusinessRuleError, InvalidInput, NotFound, NotPermitted
from app.core.extensions import db
from app.core.paging import Page, paginate
from app.core.phones import normalize_phone
from app.core.text import one_line
from app.models import Merchant, MerchantCommunity, MerchantOperator, OrgUnit, Person
from app.models.merchants import DEFAULT_CATEGORIES, MERCHANT_STATUSES, MERCHANT_TIERS
from app.people import accounts, org, people
from app.points import ledger


@dataclass
class PartnerFields:
    name: str = ""
    tier: str = "community"
    category: str = ""
    address: str = ""
    opening_hours: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    description: str = ""
    offers_need_approval: bool = False
    community_ids: list[int] = field(default_factory=list)


def _text(value: str | None, name: str, max_length: int) -> str:
    return one_line(
        value,
        field=name,
        max_length=max_length,
        required=None,
        too_long=_l("This is longer than %(max)s characters."),
    )


def _clean(fields: PartnerFields, scope: set[int] | None) -> dict:
    """The partner's columns from what was typed; the communities it serves, checked."""
    name = one_line(
        fields.name,
        field="name",
        max_length=100,
        required=_l("The partner needs a name."),
        too_long=_l("The name is longer than %(max)s characters."),
    )
    if fields.tier not in MERCHANT_TIERS:
        raise InvalidInput(_l("Choose street level or community level."), field="tier")
    category = one_line(
        fields.category,
        field="category",
        max_length=30,
        required=_l("Choose or type a category."),
        too_long=_l("The category is longer than %(max)s characters."),
    )
    phone = (fields.contact_phone or "").strip()
    description = (fields.description or "").strip()
    if len(description) > 1000:
        raise InvalidInput(
            _l("This is longer than %(max)s characters."), field="description", max=1000
        )
    all_communities = {c.id: c for c in org.communities()}
    if fields.tier == "street":
        served = list(all_communities.values())
    else:
        wanted = sorted(set(fields.community_ids or []))
        if not wanted:
            raise InvalidInput(
                _l("A community-level partner serves at least one community."),
                field="communities",
            )
        if any(cid not in all_communities for cid in wanted):
            raise NotFound(_l("There is no such community."), field="communities")
        if scope is not None and not set(wanted) <= scope:
            raise NotPermitted(
                _l("You can only choose communities you work for."), field="communities"
            )
        served = [all_communities[cid] for cid in wanted]
    return {
        "columns": {
            "name": name,
            "tier": fields.tier,
            "category": category,
            "address": _text(fields.address, "address", 200),
            "opening_hours": _text(fields.opening_hours, "opening_hours", 100),
            "contact_name": _text(fields.contact_name, "contact_name", 50),
            "contact_phone": _contact_phone(phone),
            "description": description,
            "offers_need_approval": bool(fields.offers_need_approval),
        },
        "communities": served,
    }


def _contact_phone(raw: str) -> str:
    if not raw:
        return ""
    try:
        return normalize_phone(raw)
    except InvalidInput as exc:  # the form's field is the contact phone, not "phone"
        exc.field = "contact_phone"
        raise


def _snapshot(merchant: Merchant) -> dict:
    return {
        "name": merchant.name,
        "tier": merchant.tier,
        "category": merchant.category,
        "address": merchant.address,
        "opening_hours": merchant.opening_hours,
        "contact_name": merchant.contact_name,
        "contact_phone": merchant.contact_phone,
        "description": merchant.description,
        "offers_need_approval": merchant.offers_need_approval,
        "status": merchant.status,
        "status_note": merchant.status_note,
        "communities": sorted(c.id for c in merchant.communities),
    }


def _name_taken(name: str, besides: int | None) -> None:
    query = sa.select(Merchant.id).where(Merchant.name == name)
    if besides is not None:
        query = query.where(Merchant.id != besides)
    if db.session.scalar(query) is not None:
        raise InvalidInput(
            _l("A partner named “%(name)s” already exists."), field="name", name=name
        )


def _serve(merchant: Merchant, communities: list[OrgUnit]) -> None:
    wanted = {c.id for c in communities}
    have = set(
        db.session.scalars(
            sa.select(MerchantCommunity.community_id).where(
                MerchantCommunity.merchant_id == merchant.id
            )
        )
    )
    if have - wanted:
        db.session.execute(
            sa.delete(MerchantCommunity).where(
                MerchantCommunity.merchant_id == merchant.id,
                MerchantCommunity.community_id.in_(have - wanted),
            )
        )
    db.session.add_all(
        MerchantCommunity(merchant_id=merchant.id, community_id=cid) for cid in wanted - have
    )
    db.session.flush()
    db.session.expire(merchant, ["communities"])


def may_manage(actor: Person, merchant: Merchant) -> bool:
    """The administrator manages every partner; a worker the community-level ones that serve
    only communities they work for."""
    scope = people.visible_community_ids(actor)
    if scope is None:
        return True
    if merchant.tier != "community":
        return False
    return bool(merchant.communities) and {c.id for c in merchant.communities} <= scope


def _ensure_manages(actor: Person, merchant: Merchant) -> None:
    if not may_manage(actor, merchant):
        raise NotPermitted(
            _l("Only the street administrator can change this partner."), field="merchant"
        )


def _scope(actor: Person | None) -> set[int] | None:
    """The communities the actor acts on; None: all (an administrator, or the command line)."""
    return None if actor is None else people.visible_community_ids(actor)


def create_partner(
    fields: PartnerFields, *, actor: Person | None, now: datetime, source: str = "panel"
) -> Merchant:
    """A new partner with its points account. A worker's street-level partner is proposed.
    `actor` None: the command line (an operator of the server, who may do anything)."""
    scope = _scope(actor)
    clean = _clean(fields, scope)
    _name_taken(clean["columns"]["name"], None)
    status = "proposed" if scope is not None and fields.tier == "street" else "active"
    merchant = Merchant(**clean["columns"], status=status, created_at=now, updated_at=now)
    db.session.add(merchant)
    db.session.flush()
    _serve(merchant, clean["communities"])
    ledger.merchant_account(merchant)
    audit.record(
        "merchant.create", merchant, actor=actor, source=source, now=now, after=_snapshot(merchant)
    )
    return merchant


def update_partner(
    merchant: Merchant, fields: PartnerFields, *, actor: Person, now: datetime
) -> Merchant:
    _ensure_manages(actor, merchant)
    scope = people.visible_community_ids(actor)
    if scope is not None and fields.tier == "street":
        raise NotPermitted(
            _l("Only the street administrator can make a partner street-level."), field="tier"
        )
    clean = _clean(fields, scope)
    _name_taken(clean["columns"]["name"], merchant.id)
    before = _snapshot(merchant)
    for name, value in clean["columns"].items():
        setattr(merchant, name, value)
    merchant.updated_at = now
    _serve(merchant, clean["communities"])
    after = _snapshot(merchant)
    if after != before:
        audit.record(
            "merchant.update",
            merchant,
            actor=actor,
            source="panel",
            now=now,
            before=before,
            after=after,
        )
    return merchant


def serve_new_community(community: OrgUnit) -> None:
    """Street-level partners serve every community, also one created after them."""
    for merchant_id in db.session.scalars(sa.select(Merchant.id).where(Merchant.tier == "street")):
        if db.session.get(MerchantCommunity, (merchant_id, community.id)) is None:
            db.session.add(MerchantCommunity(merchant_id=merchant_id, community_id=community.id))
    db.session.flush()


_MOVES = {
    # action: (from statuses, to status, needs a note, administrator only)
    "approve": (("proposed",), "active", False, True),
    "pause": (("active",), "paused", True, False),
    "resume": (("paused",), "active", False, False),
    "end": (("active", "paused", "proposed"), "ended", True, False),
}


def change_status(
    merchant: Merchant, action: str, *, note: str = "", actor: Person, now: datetime
) -> Merchant:
    """Approve a proposed partner, pause, resume or end a partnership (with why)."""
    if action not in _MOVES:
        raise InvalidInput(_l("Unknown action."), field="action")
    sources, target, needs_note, admin_only = _MOVES[action]
    if admin_only and people.visible_community_ids(actor) is not None:
        raise NotPermitted(
            _l("Only the street administrator can approve a street-level partner."),
            field="merchant",
        )
    if not admin_only:
        _ensure_manages(actor, merchant)
    if merchant.status == target:
        return merchant
    if merchant.status not in sources:
        raise BusinessRuleError(
            _l("This partner is %(status)s; that cannot be done now."),
            field="status",
            status=status_names()[merchant.status],
        )
    reason = ""
    if needs_note:
        reason = one_line(
            note,
            field="note",
            max_length=200,
            required=_l("Say why (the shop's operators see it)."),
            too_long=_l("The reason is longer than %(max)s characters."),
        )
    before = {"status": merchant.status, "status_note": merchant.status_note}
    # One change wins when two staff act at once: the row moves only from where it was.
    moved = rows_changed(
        sa.update(Merchant)
        .where(Merchant.id == merchant.id, Merchant.status == merchant.status)
        .values(status=target, status_note=reason, updated_at=now)
    )
    db.session.refresh(merchant)
    if not moved:  # someone else changed it meanwhile
        if merchant.status == target:
            return merchant
        raise BusinessRuleError(
            _l("Someone changed this partner meanwhile; look again."), field="status"
        )
    audit.record(
        f"merchant.{action}",
        merchant,
        actor=actor,
        source="panel",
        now=now,
        before=before,
        after={"status": merchant.status, "status_note": merchant.status_note},
        reason=reason,
    )
    return merchant


def status_names() -> dict[str, str]:
    return {
        "proposed": _("waiting for approval"),
        "active": _("active"),
        "paused": _("paused"),
        "ended": _("ended"),
    }


def closed_reason(merchant: Merchant) -> str | None:
    """Why the shop takes no points now (shown to its operators and to volunteers), or None."""
    if merchant.status == "proposed":
        return _("This partner is waiting for the street administrator's approval.")
    if merchant.status == "paused":
        return _("The street office has paused this shop: %(why)s", why=merchant.status_note)
    if merchant.status == "ended":
        return _("This partnership has ended: %(why)s", why=merchant.status_note)
    return None


def save_photo(merchant: Merchant, jpeg: bytes, *, now: datetime) -> str:
    """Keep a photo made by `offers.prepare_photo` as the partner's catalogue picture (the
    one it replaces goes)."""
    merchant.photo = files.replace_photo(
        "merchant-photo", merchant.id, merchant.photo, jpeg, now=now
    )
    db.session.flush()
    return merchant.photo


# --- operators ----------------------------------------------------------------------------


def operators_of(merchant: Merchant) -> list[Person]:
    return list(
        db.session.scalars(
            sa.select(Person)
            .join(MerchantOperator, MerchantOperator.person_id == Person.id)
            .where(MerchantOperator.merchant_id == merchant.id)
            .order_by(Person.name, Person.id)
        )
    )


def add_operator(
    merchant: Merchant,
    *,
    name: str,
    phone: str,
    actor: Person,
    now: datetime,
    link_url: Callable[[str], str],
) -> Person:
    """Give the shop an operator by phone: a new account, or the person's existing one (a
    chain's operator works for several shops). Someone without a password gets a one-time
    link on their phone to set their own; nobody else sees or types it."""
    _ensure_manages(actor, merchant)
    if merchant.status == "ended":
        raise BusinessRuleError(_l("This partnership has ended."), field="merchant")
    person = people.find_by_phone(phone)
    if person is None:
        person = people.create_person(name=name, phone=phone, now=now, actor=actor, source="panel")
    if not person.is_active_account:
        raise BusinessRuleError(
            _l("%(name)s's account is switched off; switch it on first."),
            field="phone",
            name=person.name,
        )
    if db.session.get(MerchantOperator, (merchant.id, person.id)) is not None:
        raise BusinessRuleError(
            _l("%(name)s already works for this shop."), field="phone", name=person.name
        )
    people.grant_role(person, "merchant")
    db.session.add(MerchantOperator(merchant_id=merchant.id, person_id=person.id))
    db.session.flush()
    audit.record(
        "merchant.operator_add",
        merchant,
        actor=actor,
        source="panel",
        now=now,
        after={"operator": person.id},
    )
    if person.password_hash:
        with force_locale(person.locale):
            body = _(
                "Linli: you can now take points at %(shop)s. Sign in with your password.",
                shop=merchant.name,
            )
        outbox.queue(person=person, kind="account_notice", body=body, now=now)
    else:
        accounts.send_password_link(person, actor=actor, now=now, link_url=link_url)
    return person


def remove_operator(merchant: Merchant, person: Person, *, actor: Person, now: datetime) -> None:
    """The person no longer works for this shop; without any shop left they lose the
    operator role and every session ends."""
    _ensure_manages(actor, merchant)
    held = db.session.get(MerchantOperator, (merchant.id, person.id))
    if held is None:
        raise NotFound(_l("This person does not work for this shop."), field="person")
    db.session.delete(held)
    db.session.flush()
    others = db.session.scalar(
        sa.select(sa.func.count()).where(MerchantOperator.person_id == person.id)
    )
    if not others:
        for role in [r for r in person.roles if r.role == "merchant"]:
            person.roles.remove(role)
        people.end_sessions(person)
    audit.record(
        "merchant.operator_remove",
        merchant,
        actor=actor,
        source="panel",
        now=now,
        before={"operator": person.id},
    )


# --- reading ------------------------------------------------------------------------------


def get(merchant_id: int) -> Merchant:
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound(_l("There is no such shop."), field="merchant")
    return merchant


def find_by_name(name: str) -> Merchant | None:
    return db.session.scalar(sa.select(Merchant).where(Merchant.name == " ".join(name.split())))


def search(
    text: str,
    *,
    status: str | None,
    community_ids: set[int] | None,
    page: int | None,
) -> Page:
    """Partners serving these communities (None: all) whose name, category, address or
    contact contains `text`, in a given status; one page of them."""
    query = sa.select(Merchant)
    if community_ids is not None:
        served = sa.select(MerchantCommunity.merchant_id).where(
            MerchantCommunity.community_id.in_(community_ids)
        )
        query = query.where(Merchant.id.in_(served))
    words = (text or "").split()
    for word in words[:5]:
        query = query.where(
            sa.or_(
                *(
                    column.contains(word, autoescape=True)
                    for column in (
                        Merchant.name,
                        Merchant.category,
                        Merchant.address,
                        Merchant.contact_name,
                        Merchant.contact_phone,
                    )
                )
            )
        )
    if status in MERCHANT_STATUSES:
        query = query.where(Merchant.status == status)
    order = sa.case((Merchant.status == "proposed", 0), (Merchant.status == "ended", 2), else_=1)
    return paginate(query.order_by(order, Merchant.tier.desc(), Merchant.name), page)


def categories() -> list[str]:
    """The defaults and every category staff have used, for the form's list."""
    used = db.session.scalars(sa.select(Merchant.category).distinct())
    extra = sorted(set(used) - set(DEFAULT_CATEGORIES))
    return list(DEFAULT_CATEGORIES) + extra

"""All models, imported here so Alembic and the app see every table."""

from app.models.activities import Activity, Attendance, Signup
from app.models.api import ApiToken, IdempotencyRecord, RateLimitCounter
from app.models.audit import AuditEvent
from app.models.chat import ChatLink, InboundMessage
from app.models.codes import PasswordLink, PersonalCode, SignInCode, Strike
from app.models.deeds import Adjustment, Deduction, DeedAward, DeedCount, DeedReport, DeedRule
from app.models.files import ResidentImport, StoredFile
from app.models.ledger import Account, BoardCount, LedgerEntry, LedgerTransaction, PeriodTotal
from app.models.merchants import (
    Merchant,
    MerchantCommunity,
    MerchantOperator,
    Offer,
    OfferDayCount,
    OfferPersonMonth,
    Redemption,
    Settlement,
    SettlementMonth,
)
from app.models.needs import (
    Need,
    NeedCount,
    NeedEvent,
    NeedKind,
    NeedPhoto,
    PartyReport,
    Resource,
    ResourceClaim,
    ResourceUse,
)
from app.models.org import OrgUnit, Team, TeamMember
from app.models.outbox import Broadcast, OutboxMessage, SmsOptOut
from app.models.people import LeaderRole, Person, PersonRole, PersonTag, StaffCommunity
from app.models.statements import Honour, Objection, Statement

__all__ = [
    "ResidentImport",
    "StoredFile",
    "ApiToken",
    "IdempotencyRecord",
    "RateLimitCounter",
    "ChatLink",
    "Adjustment",
    "DeedAward",
    "DeedReport",
    "DeedCount",
    "DeedRule",
    "Deduction",
    "Honour",
    "InboundMessage",
    "Activity",
    "Attendance",
    "Account",
    "AuditEvent",
    "LeaderRole",
    "LedgerEntry",
    "LedgerTransaction",
    "Merchant",
    "Need",
    "NeedCount",
    "NeedEvent",
    "NeedKind",
    "NeedPhoto",
    "PartyReport",
    "Resource",
    "ResourceClaim",
    "ResourceUse",
    "MerchantCommunity",
    "MerchantOperator",
    "Objection",
    "Offer",
    "OfferDayCount",
    "OfferPersonMonth",
    "OrgUnit",
    "Broadcast",
    "OutboxMessage",
    "SmsOptOut",
    "PeriodTotal",
    "BoardCount",
    "PasswordLink",
    "PersonalCode",
    "Person",
    "PersonRole",
    "PersonTag",
    "Redemption",
    "Settlement",
    "SettlementMonth",
    "SignInCode",
    "Strike",
    "Signup",
    "StaffCommunity",
    "Statement",
    "Team",
    "TeamMember",
]

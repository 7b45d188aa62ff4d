"""Every table alertcast keeps, as SQLModel classes.

The database is the source of truth for each delivery: a process can die at any instant and a restart
picks up from these rows. So a delivery row carries all it needs to be resumed (state, attempts, next
attempt time, lease) and the claim index matches the dispatcher's query exactly.

Times are stored as timezone-aware UTC. Schema changes go through Alembic migrations
(``alertcast/store/migrations``); never edit a table here without adding one.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime, Index, LargeBinary, UniqueConstraint, text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every database.

    SQLite has no time zone type and SQLAlchemy would hand back naive values there; comparing those with
    aware ones raises. Storing naive UTC and re-attaching UTC on read keeps both databases alike and the
    stored text sortable, which the claim index relies on.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: alertcast stores aware UTC times only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _ts(**kwargs: object) -> object:
    """A nullable UTC timestamp column."""
    return Field(default=None, sa_type=UTCDateTime, **kwargs)  # type: ignore[call-overload]


class DeliveryState(enum.StrEnum):
    """The life of one message to one recipient on one channel."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    ACKNOWLEDGED = "acknowledged"


FINAL_STATES = frozenset(
    {DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.EXPIRED, DeliveryState.CANCELLED}
)


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = ""
    phone: str | None = Field(default=None, unique=True, index=True)
    """E.164, normalised on import."""
    email: str | None = Field(default=None, index=True)
    language: str = "en"
    lat: float | None = None
    lon: float | None = None
    apprise_urls: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Personal Apprise URLs (chat handles, webhooks); service credentials live in config, not here."""
    geocodes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """``NAME=VALUE`` tags (e.g. ``SAME=006037``) matched against CAP area geocodes."""
    opted_out: bool = False
    created_at: datetime | None = _ts()
    updated_at: datetime | None = _ts()


class ContactGroup(SQLModel, table=True):
    __tablename__ = "contact_group"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    description: str = ""
    created_at: datetime | None = _ts()


class GroupMember(SQLModel, table=True):
    __tablename__ = "group_member"

    group_id: int = Field(foreign_key="contact_group.id", primary_key=True, ondelete="CASCADE")
    contact_id: int = Field(foreign_key="contact.id", primary_key=True, ondelete="CASCADE", index=True)


class Alert(SQLModel, table=True):
    """An ingested CAP alert: the raw document verbatim plus the fields the product works with."""

    __table_args__ = (UniqueConstraint("sender", "identifier", "sent", name="uq_alert_key"),)

    id: int | None = Field(default=None, primary_key=True)
    sender: str
    identifier: str
    sent: str
    """The ``<sent>`` value as ISO 8601 text: part of the alert's identity, compared as written."""
    sent_at: datetime | None = _ts()
    version: str = "1.2"
    status: str
    msg_type: str
    scope: str
    event: str = ""
    headline: str = ""
    severity: str = ""
    urgency: str = ""
    certainty: str = ""
    expires_at: datetime | None = _ts()
    source: str = ""
    """Where it came from: a path, a URL, ``operator``."""
    raw_xml: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    model: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """The normalised alert (every info, area and resource) so rendering needs no re-parse."""
    warnings: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    public: bool = True
    """False for Test/System/Draft and expired alerts: stored, never broadcast to the public."""
    drill_only: bool = False
    """Status Exercise: only ever broadcast in drill mode."""
    cancelled: bool = False
    cancelled_by: int | None = Field(default=None, foreign_key="alert.id")
    superseded_by: int | None = Field(default=None, foreign_key="alert.id")
    received_at: datetime | None = _ts()


class AlertReference(SQLModel, table=True):
    """One ``references`` entry of an Update/Cancel/Ack/Error; kept even when the target is unknown."""

    __tablename__ = "alert_reference"

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    ref_sender: str
    ref_identifier: str
    ref_sent: str
    target_id: int | None = Field(default=None, foreign_key="alert.id", index=True)
    """None while the referenced alert is unknown (flagged to the operator; linked if it arrives later)."""


class Broadcast(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime | None = _ts()
    operator: str = ""
    alert_id: int | None = Field(default=None, foreign_key="alert.id", index=True)
    title: str = ""
    priority: int = 0
    drill: bool = False
    status: str = "active"
    """active, cancelled or done."""
    expires_at: datetime | None = _ts()
    ack_requested: bool = False
    ack_code: str | None = Field(default=None, index=True)
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    cancelled_at: datetime | None = _ts()
    recipients: int = 0
    escalation: dict = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )
    """The fallback policy in force when it was sent (``core.escalation.EscalationPolicy.to_json``), or
    ``{}``: kept with the broadcast so a later change of configuration never alters one under way."""


class BroadcastMessage(SQLModel, table=True):
    """The rendered text of a broadcast in one language: stored once, not once per delivery."""

    __tablename__ = "broadcast_message"

    broadcast_id: int = Field(foreign_key="broadcast.id", primary_key=True)
    language: str = Field(primary_key=True)
    sms_text: str
    title: str = ""
    body: str = ""


class Delivery(SQLModel, table=True):
    """One message to one recipient over one channel kind; the unit the dispatcher claims."""

    __table_args__ = (
        # The claim reads one (state, kind, drill) range in exactly this order and stops at its LIMIT, so
        # deliveries no route can take (another kind, drill vs live) are never scanned by a claim.
        Index(
            "ix_delivery_claim",
            "state",
            "channel_kind",
            "drill",
            text("priority DESC"),
            "next_attempt_at",
            "id",
        ),
        Index("ix_delivery_broadcast_state", "broadcast_id", "state"),
        Index("ix_delivery_provider", "provider_id"),
        Index("ix_delivery_lease", "state", "lease_expires_at"),
        # The escalation sweep reads only rows still waiting for a decision (escalate_at set), by state
        # and time; every other row (nearly all of them) stays out of this index.
        Index(
            "ix_delivery_escalation",
            "state",
            "escalate_at",
            sqlite_where=text("escalate_at IS NOT NULL"),
            postgresql_where=text("escalate_at IS NOT NULL"),
        ),
        # A fallback step is created once per parent and address, however many engines decide it at once.
        Index(
            "ux_delivery_parent_address",
            "parent_id",
            "address",
            unique=True,
            sqlite_where=text("parent_id IS NOT NULL"),
            postgresql_where=text("parent_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcast.id")
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    address: str
    channel_kind: str = "sms"
    drill: bool = False
    """Copied from the broadcast so a claim can pick drill or live work from the index alone."""
    route: str | None = None
    """The route (channel instance) it was handed to, once claimed."""
    language: str = "en"
    priority: int = 0
    state: str = DeliveryState.QUEUED.value
    attempts: int = 0
    next_attempt_at: datetime | None = _ts()
    lease_owner: str | None = None
    lease_expires_at: datetime | None = _ts()
    provider_id: str | None = None
    error: str | None = None
    possible_duplicate: bool = False
    parent_id: int | None = Field(default=None, foreign_key="delivery.id")
    """The delivery this one falls back from or escalates, so reports can show each recipient's path."""
    step: int = 0
    """Index of the broadcast's fallback step this delivery belongs to (0 without a policy)."""
    escalate_at: datetime | None = _ts()
    """When the escalation sweep should next look at this delivery; None once nothing more can follow it
    (no later step, reached, acknowledged, escalated). A failed delivery with it set is looked at at once."""
    ack_code: str | None = None
    queued_at: datetime | None = _ts()
    claimed_at: datetime | None = _ts()
    submitted_at: datetime | None = _ts()
    final_at: datetime | None = _ts()


class Ack(SQLModel, table=True):
    """A reply from a person; matched to a broadcast and delivery, or kept unmatched for the operator."""

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime | None = _ts()
    channel: str = ""
    sender: str
    text: str
    broadcast_id: int | None = Field(default=None, foreign_key="broadcast.id", index=True)
    delivery_id: int | None = Field(default=None, foreign_key="delivery.id")
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    """Indexed so escalation can ask "has this person acknowledged?" without reading a broadcast's acks."""
    matched: bool = False
    reason: str = ""


class AuditEntry(SQLModel, table=True):
    """Append-only record of what operators and the system did, and when."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = _ts(index=True)
    actor: str
    action: str
    subject: str = ""
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))

"""Who gets a broadcast: groups, single contacts and everyone inside an alert's area, deduplicated.

The preview and the send path call the same function so what an operator previews is exactly what is
sent. Without a fallback policy each contact is reached on one channel kind: SMS when they have a phone
(and SMS is allowed), else Apprise (e-mail address or personal URL). With one (``[[fallback]]``), each
contact starts at the first step of the policy they can be reached on, with a delivery to every address
they have on that step's kinds (a step of several kinds is "all channels at once"); later steps are the
engine's business.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import Session

from alertcast.core.cap_json import alert_from_json
from alertcast.core.escalation import contact_addresses
from alertcast.core.targeting import ContactPoints, GeocodeIndex, target_alert
from alertcast.services.contacts import ContactsError, contact_id, group_id
from alertcast.store.models import Alert as AlertRow
from alertcast.store.models import Contact, GroupMember

SMS, APPRISE = "sms", "apprise"


TargetError = ContactsError
"""A target that names nothing (unknown group, contact or alert); the message names it."""


@dataclass(frozen=True)
class Targets:
    groups: tuple[str, ...] = ()
    contacts: tuple[str, ...] = ()
    """Phone numbers (any written form), e-mail addresses or contact ids."""
    area_of: tuple[int, ...] = ()
    """Alert ids whose areas (polygons, circles, geocodes) select contacts."""

    def empty(self) -> bool:
        return not (self.groups or self.contacts or self.area_of)


@dataclass(frozen=True, slots=True)
class Reach:
    contact_id: int
    name: str
    address: str
    channel_kind: str
    language: str
    step: int = 0
    """The fallback step this delivery belongs to (0 without a policy)."""


@dataclass
class RecipientSet:
    recipients: list[Reach] = field(default_factory=list)
    per_target: dict[str, int] = field(default_factory=dict)
    """Contacts selected by each target (``group:fire``, ``contact:+1…``, ``area:3``), before dedup."""
    opted_out_skipped: int = 0
    unreachable: list[str] = field(default_factory=list)
    """Contacts selected but with no address on any allowed channel, by name."""

    @property
    def people(self) -> int:
        """Contacts reached (with a fallback policy a contact may get several deliveries at once)."""
        return len({r.contact_id for r in self.recipients})

    def per_channel(self) -> dict[str, int]:
        return dict(Counter(r.channel_kind for r in self.recipients))

    def per_language(self) -> dict[str, int]:
        return dict(Counter(r.language for r in self.recipients))


def _group_members(session: Session, name: str) -> list[int]:
    gid = group_id(session, name)
    return list(session.execute(select(GroupMember.contact_id).where(GroupMember.group_id == gid)).scalars())


def _area_members(session: Session, alert_id: int) -> list[int]:
    row = session.get(AlertRow, alert_id)
    if row is None:
        raise TargetError(f"no alert with id {alert_id}")
    alert = alert_from_json(row.model)
    located = session.execute(
        select(Contact.id, Contact.lat, Contact.lon).where(Contact.lat.is_not(None), Contact.lon.is_not(None))
    ).all()
    points = ContactPoints.from_rows((cid, lat, lon) for cid, lat, lon in located)
    tagged = session.execute(select(Contact.id, Contact.geocodes)).all()
    geocodes = GeocodeIndex.from_tags(
        {cid: [tuple(tag.split("=", 1)) for tag in tags if "=" in tag] for cid, tags in tagged if tags}
    )
    return [int(i) for i in target_alert(alert, points, geocodes).ids]


def _reach(contact: Contact, kinds: frozenset[str]) -> tuple[str, str] | None:
    if SMS in kinds and contact.phone:
        return SMS, contact.phone
    if APPRISE in kinds:
        if contact.email:
            return APPRISE, contact.email
        if contact.apprise_urls:
            return APPRISE, contact.apprise_urls[0]
    return None


def _first_step(contact: Contact, steps: Sequence[Sequence[str]]) -> tuple[int, list[tuple[str, str]]] | None:
    """The first fallback step the contact can be reached on, with every (kind, address) of it."""
    for index, kinds in enumerate(steps):
        found = contact_addresses(kinds, contact.phone, contact.email, contact.apprise_urls or [])
        if found:
            return index, found
    return None


def resolve(
    session: Session,
    targets: Targets,
    *,
    region: str,
    channel_kinds: Iterable[str] = (SMS, APPRISE),
    include_opted_out: bool = False,
    steps: Sequence[Sequence[str]] | None = None,
) -> RecipientSet:
    """Every contact the targets select, once, each with the channel and address to reach them on; with
    fallback ``steps`` (kinds already limited to the allowed ones), every address of their first step."""
    result = RecipientSet()
    chosen: dict[int, None] = {}
    for name in targets.groups:
        ids = _group_members(session, name)
        result.per_target[f"group:{name}"] = len(ids)
        chosen.update(dict.fromkeys(ids))
    for ref in targets.contacts:
        chosen[contact_id(session, ref, region)] = None
        result.per_target[f"contact:{ref}"] = 1
    for alert_id in targets.area_of:
        ids = _area_members(session, alert_id)
        result.per_target[f"area:{alert_id}"] = len(ids)
        chosen.update(dict.fromkeys(ids))
    kinds = frozenset(channel_kinds)
    ids = list(chosen)
    for start in range(0, len(ids), 20_000):
        batch = ids[start : start + 20_000]
        contacts = {c.id: c for c in session.execute(select(Contact).where(Contact.id.in_(batch))).scalars()}
        for cid in batch:
            contact = contacts[cid]
            if contact.opted_out and not include_opted_out:
                result.opted_out_skipped += 1
                continue
            if steps:
                first = _first_step(contact, steps)
                if first is None:
                    result.unreachable.append(contact.name)
                    continue
                step, found = first
                result.recipients.extend(
                    Reach(cid, contact.name, address, kind, contact.language, step) for kind, address in found
                )
                continue
            reach = _reach(contact, kinds)
            if reach is None:
                result.unreachable.append(contact.name)
                continue
            result.recipients.append(Reach(cid, contact.name, reach[1], reach[0], contact.language))
    return result

"""Contacts and groups: list, export, membership, opt-out; importing lives in ``contact_import``.

Lookups by name, phone or e-mail that find nothing are errors naming what was asked for, never a skip:
an operator adding someone to an emergency list must know when that did not happen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlmodel import Session

from alertcast.core.contact_rows import normalise_phone
from alertcast.services.audit import record as audit
from alertcast.services.contact_files import to_csv
from alertcast.services.contact_import import ContactsError, check_group_name
from alertcast.services.contact_import import ImportReport as ImportReport  # re-exported: callers import here
from alertcast.services.contact_import import import_contacts as import_contacts
from alertcast.services.context import AppContext
from alertcast.store.models import Contact, ContactGroup, GroupMember, utcnow


@dataclass(frozen=True)
class ContactView:
    id: int
    name: str
    phone: str | None
    email: str | None
    language: str
    groups: tuple[str, ...]
    lat: float | None
    lon: float | None
    apprise: tuple[str, ...]
    geocodes: tuple[str, ...]
    opted_out: bool

    def as_row(self) -> dict[str, object]:
        """The CSV import columns, so ``export --csv`` output re-imports unchanged."""
        return {
            "name": self.name,
            "phone": self.phone or "",
            "email": self.email or "",
            "language": self.language,
            "groups": ";".join(self.groups),
            "lat": "" if self.lat is None else self.lat,
            "lon": "" if self.lon is None else self.lon,
            "apprise": " ".join(self.apprise),
            "geocodes": ";".join(self.geocodes),
            "opted_out": "yes" if self.opted_out else "",
        }


def _views(session: Session, where: object | None = None) -> list[ContactView]:
    query = select(Contact).order_by(Contact.name, Contact.id)
    if where is not None:
        query = query.where(where)  # type: ignore[arg-type]
    contacts = session.execute(query).scalars().all()
    groups: dict[int, list[str]] = {}
    for cid, name in session.execute(
        select(GroupMember.contact_id, ContactGroup.name).join(ContactGroup).order_by(ContactGroup.name)
    ):
        groups.setdefault(cid, []).append(name)
    return [
        ContactView(
            id=c.id or 0,
            name=c.name,
            phone=c.phone,
            email=c.email,
            language=c.language,
            groups=tuple(groups.get(c.id or 0, ())),
            lat=c.lat,
            lon=c.lon,
            apprise=tuple(c.apprise_urls),
            geocodes=tuple(c.geocodes),
            opted_out=c.opted_out,
        )
        for c in contacts
    ]


def group_id(session: Session, name: str) -> int:
    """A group's id by name; an unknown name is an error that says where to look."""
    gid = session.execute(select(ContactGroup.id).where(ContactGroup.name == name)).scalar()
    if gid is None:
        raise ContactsError(f"no group named {name!r} (see: alertcast groups list)")
    return gid


def list_contacts(ctx: AppContext, *, group: str | None = None) -> list[ContactView]:
    with ctx.session() as session:
        if group is None:
            return _views(session)
        gid = group_id(session, group)
        members = select(GroupMember.contact_id).where(GroupMember.group_id == gid)
        return _views(session, Contact.id.in_(members))  # type: ignore[union-attr]


def export_csv(contacts: Iterable[ContactView]) -> str:
    return to_csv(c.as_row() for c in contacts)


@dataclass(frozen=True)
class GroupView:
    name: str
    description: str
    members: int


def list_groups(ctx: AppContext) -> list[GroupView]:
    with ctx.session() as session:
        rows = session.execute(
            select(ContactGroup.name, ContactGroup.description, func.count(GroupMember.contact_id))
            .outerjoin(GroupMember)
            .group_by(ContactGroup.id)
            .order_by(ContactGroup.name)
        ).all()
    return [GroupView(n, d, m) for n, d, m in rows]


def create_group(ctx: AppContext, name: str, description: str = "") -> None:
    name = check_group_name(name)
    with ctx.session() as session:
        if session.execute(select(ContactGroup.id).where(ContactGroup.name == name)).scalar() is not None:
            raise ContactsError(f"group {name!r} already exists")
        session.add(ContactGroup(name=name, description=description, created_at=utcnow()))
        audit(session, ctx.config.operator, "groups.create", name)


def delete_group(ctx: AppContext, name: str) -> int:
    """Delete a group (its contacts stay); returns how many memberships went with it."""
    with ctx.session() as session:
        gid = group_id(session, name)
        count = session.execute(delete(GroupMember).where(GroupMember.group_id == gid)).rowcount
        session.execute(delete(ContactGroup).where(ContactGroup.id == gid))
        audit(session, ctx.config.operator, "groups.delete", name, memberships=count)
    return count


def contact_id(session: Session, ref: str, region: str) -> int:
    """A contact by phone (any written form), e-mail or numeric id; an unknown one is an error, not a skip."""
    if ref.isdigit() and len(ref) < 7:
        if session.get(Contact, int(ref)) is None:
            raise ContactsError(f"no contact with id {ref}")
        return int(ref)
    if "@" in ref:
        cid = session.execute(select(Contact.id).where(Contact.email == ref.lower())).scalar()
    else:
        try:
            phone = normalise_phone(ref, region)
        except ValueError as exc:
            raise ContactsError(f"contact {ref!r}: {exc}") from None
        cid = session.execute(select(Contact.id).where(Contact.phone == phone)).scalar()
    if cid is None:
        raise ContactsError(f"no contact {ref!r}")
    return cid


def _resolve_contacts(session: Session, refs: Iterable[str], region: str) -> list[int]:
    return [contact_id(session, ref, region) for ref in refs]


def change_membership(ctx: AppContext, group: str, refs: list[str], *, add: bool) -> int:
    """Add contacts to, or remove them from, a group; returns how many memberships changed."""
    with ctx.session() as session:
        gid = group_id(session, group)
        ids = set(_resolve_contacts(session, refs, ctx.config.contacts.default_region))
        have = set(
            session.execute(
                select(GroupMember.contact_id).where(
                    GroupMember.group_id == gid, GroupMember.contact_id.in_(list(ids))
                )
            ).scalars()
        )
        if add:
            new = ids - have
            if new:
                session.execute(insert(GroupMember), [{"group_id": gid, "contact_id": c} for c in new])
            changed = len(new)
        else:
            changed = session.execute(
                delete(GroupMember).where(GroupMember.group_id == gid, GroupMember.contact_id.in_(list(have)))
            ).rowcount
        audit(
            session,
            ctx.config.operator,
            "groups.add" if add else "groups.remove",
            group,
            contacts=sorted(ids),
        )
    return changed


def set_opt_out(ctx: AppContext, refs: list[str], opted_out: bool) -> int:
    with ctx.session() as session:
        ids = _resolve_contacts(session, refs, ctx.config.contacts.default_region)
        session.execute(
            update(Contact).where(Contact.id.in_(ids)).values(opted_out=opted_out, updated_at=utcnow())
        )
        audit(
            session,
            ctx.config.operator,
            "contacts.opt_out" if opted_out else "contacts.opt_in",
            "",
            contacts=ids,
        )
    return len(ids)

"""Importing an address book: an upsert of every good row, in one transaction.

Rows match stored contacts by phone, then e-mail (then, for contacts with neither, their Apprise URL):
re-importing a file changes nothing, a changed row updates its contact, and group membership from a file
only ever adds (removing someone from an emergency list is a deliberate act: ``groups remove``). A failure
stores nothing.

A 100,000-row book must import in seconds, so rows are written with a few DBAPI executemany calls, stored
values are read back raw and compared without building ORM objects, and JSON lists are decoded once per
distinct text rather than once per row (nearly every row holds ``[]``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import Connection, String, func, select, type_coerce, update
from sqlmodel import Session

from alertcast.core.contact_rows import ContactRecord, RowProblem, contact_key
from alertcast.services.audit import record as audit
from alertcast.services.contact_files import ParsedRow, open_contact_file
from alertcast.services.context import AppContext
from alertcast.store.models import Contact, ContactGroup, GroupMember, utcnow
from alertcast.store.outbox_tx import bulk_insert

_CHUNK = 5000
"""Rows per insert statement: bounds memory on large files without costing round trips."""
_FIELDS = ("name", "phone", "email", "language", "lat", "lon", "apprise_urls", "geocodes", "opted_out")
_URLS, _GEOCODES = _FIELDS.index("apprise_urls"), _FIELDS.index("geocodes")


class ContactsError(ValueError):
    """A contacts or groups request that cannot be carried out; the message says which name or number."""


@dataclass
class ImportReport:
    file: str
    kind: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    groups_created: list[str] = field(default_factory=list)
    memberships_added: int = 0

    @property
    def ok(self) -> bool:
        return not self.rejected

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["rejected"] = [asdict(p) for p in self.rejected]
        data["rejected_rows"] = len({p.where for p in self.rejected})
        return data


def check_group_name(name: str) -> str:
    clean = name.strip()
    if not clean or any(ch in clean for ch in ";|,\n"):
        raise ContactsError(
            f"group name {name!r}: must be non-empty and contain none of ; | , or a line break"
        )
    return clean


def _row(record: ContactRecord) -> tuple[object, ...]:
    """``record``'s values in ``_FIELDS`` order: what the bulk insert takes and what a stored row reads as."""
    return (
        record.name,
        record.phone,
        record.email,
        record.language,
        record.lat,
        record.lon,
        record.apprise_urls,
        record.geocodes,
        record.opted_out,
    )


class _Stored:
    """The stored contacts, indexed the ways a row can match them."""

    def __init__(self, connection: Connection) -> None:
        self.by_phone: dict[str, int] = {}
        self.by_email: dict[str, int] = {}
        self.by_url: dict[str, int] = {}
        self.values: dict[int, tuple[object, ...]] = {}
        lists: dict[str, tuple[str, ...]] = {}

        def as_tuple(raw: str | list[str]) -> tuple[str, ...]:
            if not isinstance(raw, str):  # a driver that decodes JSON itself (psycopg)
                return tuple(raw)
            if raw not in lists:
                lists[raw] = tuple(json.loads(raw))
            return lists[raw]

        table = Contact.__table__
        columns = [
            type_coerce(table.c[f], String) if f in ("apprise_urls", "geocodes") else table.c[f]
            for f in _FIELDS
        ]
        for cid, *values in connection.execute(select(table.c.id, *columns)):
            values[_URLS], values[_GEOCODES] = as_tuple(values[_URLS]), as_tuple(values[_GEOCODES])
            self.values[cid] = row = tuple(values)
            phone, email = row[1], row[2]
            if phone:
                self.by_phone[phone] = cid  # type: ignore[index]
            if email:
                self.by_email.setdefault(email, cid)  # type: ignore[arg-type]
            for url in row[_URLS]:  # type: ignore[attr-defined]
                self.by_url.setdefault(url, cid)

    def match(self, rec: ContactRecord) -> int | None:
        cid = self.by_phone.get(rec.phone) if rec.phone else None
        if cid is None and rec.email:
            cid = self.by_email.get(rec.email)
        if cid is None and not rec.phone and not rec.email:
            cid = next((self.by_url[u] for u in rec.apprise_urls if u in self.by_url), None)
        return cid


def import_contacts(
    ctx: AppContext, path: Path, *, group: str | None = None, region: str | None = None
) -> ImportReport:
    """Import a CSV or vCard file; see the module docstring for the matching rules.

    Each chunk of validated rows is written while the next chunks are still being validated (in worker
    processes for a large file), all in one transaction: a file found broken half-way stores nothing.
    """
    region = (region or ctx.config.contacts.default_region).upper()
    extra_group = check_group_name(group) if group else None
    stream = open_contact_file(path, region=region)
    report = ImportReport(file=str(path), kind=stream.kind, notes=stream.notes)
    with ctx.session() as session:
        book = _BookWriter(session, report, extra_group)
        for rows in stream.chunks():
            book.add(rows)
        report.rejected[:0] = stream.problems
        book.finish()
        report.rejected.sort(key=lambda p: int(p.where.rsplit(" ", 1)[-1]))
        audit(
            session,
            ctx.config.operator,
            "contacts.import",
            str(path),
            added=report.added,
            updated=report.updated,
            unchanged=report.unchanged,
            rejected=len({p.where for p in report.rejected}),
        )
    return report


class _BookWriter:
    """Writes one import's rows chunk by chunk: new contacts at once, updates and memberships at the end.

    Rows are matched against the contacts stored before the import began, never against rows of the
    same file, so the outcome does not depend on how the file was cut into chunks.
    """

    def __init__(self, session: Session, report: ImportReport, extra_group: str | None) -> None:
        self.session = session
        self.report = report
        self.extra = (extra_group,) if extra_group else ()
        self.stored = _Stored(session.connection())
        self.now = utcnow()
        self.claimed: dict[int, str] = {}
        self.updates: list[dict[str, object]] = []
        self.memberships: set[tuple[str, int]] = set()
        self.verdicts: dict[str, str | None] = {}

    def add(self, rows: list[ParsedRow]) -> None:
        inserts: list[ContactRecord] = []
        for row in rows:
            rec = row.record
            if not self._groups_ok(row):
                continue
            cid = self.stored.match(rec)
            if cid is not None and cid in self.claimed:
                self.report.rejected.append(
                    RowProblem(row.where, "phone", f"matches the same stored contact as {self.claimed[cid]}")
                )
                continue
            if cid is None:
                inserts.append(rec)
                continue
            self.claimed[cid] = row.where
            self._join(rec, cid)
            values = _row(rec)
            if values == self.stored.values[cid]:
                self.report.unchanged += 1
            else:
                changed = dict(zip(_FIELDS, values, strict=True))
                changed["apprise_urls"], changed["geocodes"] = list(rec.apprise_urls), list(rec.geocodes)
                self.updates.append({"id": cid, **changed, "updated_at": self.now})
        if inserts:
            stamps = {"created_at": self.now, "updated_at": self.now}
            for rec, cid in zip(inserts, _insert_new(self.session, inserts, stamps), strict=True):
                self._join(rec, cid)
            self.report.added += len(inserts)

    def finish(self) -> None:
        if self.updates:
            self.session.execute(update(Contact), self.updates)  # ORM bulk UPDATE by primary key
            self.report.updated = len(self.updates)
        if self.memberships:
            _add_memberships(self.session, self.memberships, self.report)

    def _join(self, rec: ContactRecord, cid: int) -> None:
        for name in (*rec.groups, *self.extra):
            self.memberships.add((name, cid))

    def _groups_ok(self, row: ParsedRow) -> bool:
        """Reject a row naming a group that cannot exist; each distinct name is judged once."""
        ok = True
        for name in row.record.groups:
            if name not in self.verdicts:
                try:
                    check_group_name(name)
                    self.verdicts[name] = None
                except ContactsError as exc:
                    self.verdicts[name] = str(exc)
            if (problem := self.verdicts[name]) is not None:
                self.report.rejected.append(RowProblem(row.where, "groups", problem))
                ok = False
        return ok


def _insert_new(session: Session, records: list[ContactRecord], stamps: dict[str, object]) -> list[int]:
    """Insert ``records`` and return their new ids in the same order.

    A plain executemany, then one query for the ids: asking for RETURNING with the rows' order kept makes
    SQLAlchemy send one INSERT per row on SQLite, which was half the import time. The rows are found again
    by their key and this import's exact ``created_at``, so rows another writer adds meanwhile never mix in.
    The key is unique among the rows of one import: the file reader reports a second row with the same
    ``contact_key`` as a repeat instead of passing it on.
    """
    table = Contact.__table__
    connection = session.connection()
    before = connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    for start in range(0, len(records), _CHUNK):
        chunk = [_row(rec) for rec in records[start : start + _CHUNK]]
        bulk_insert(connection, table, _FIELDS, chunk, stamps)
    mine = (table.c.id > before) & (table.c.created_at == stamps["created_at"])
    found = {
        contact_key(phone, email, ()): cid
        for cid, phone, email in connection.execute(
            select(table.c.id, table.c.phone, table.c.email).where(mine)
        )
        if phone or email
    }
    # Only contacts with neither phone nor e-mail are known by their URL; reading (and decoding) that
    # column for them alone keeps the read-back cheap.
    only_urls = mine & table.c.phone.is_(None) & table.c.email.is_(None)
    for cid, urls in connection.execute(select(table.c.id, table.c.apprise_urls).where(only_urls)):
        found[contact_key(None, None, urls)] = cid
    ids = [found.get(contact_key(rec.phone, rec.email, rec.apprise_urls)) for rec in records]
    if None in ids or len(found) != len(records):
        raise RuntimeError(
            "contacts import: the inserted rows could not all be found again; nothing was stored"
        )
    return ids  # type: ignore[return-value]


def _add_memberships(session: Session, memberships: set[tuple[str, int]], report: ImportReport) -> None:
    ids, report.groups_created = _ensure_groups(session, {name for name, _ in memberships})
    connection = session.connection()
    have = set(
        map(
            tuple,
            connection.execute(
                select(GroupMember.group_id, GroupMember.contact_id).where(
                    GroupMember.group_id.in_(list(ids.values()))
                )
            ),
        )
    )
    by_group: dict[int, set[int]] = {gid: set() for gid in sorted(ids.values())}
    for name, cid in memberships:
        by_group[ids[name]].add(cid)
    # In primary-key order, rows append to the index instead of splitting its pages; sorting plain ids
    # per group is several times cheaper than sorting (group, contact) pairs.
    new = [
        (gid, cid) for gid, members in by_group.items() for cid in sorted(members) if (gid, cid) not in have
    ]
    if new:
        bulk_insert(connection, GroupMember.__table__, ("group_id", "contact_id"), new, {})
    report.memberships_added = len(new)


def _ensure_groups(session: Session, names: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    wanted = sorted(set(names))
    existing = dict(
        session.execute(select(ContactGroup.name, ContactGroup.id).where(ContactGroup.name.in_(wanted))).all()
    )
    created = [n for n in wanted if n not in existing]
    for name in created:
        group = ContactGroup(name=name, created_at=utcnow())
        session.add(group)
        session.flush()
        existing[name] = group.id
    return existing, created

"""Ingest: CAP documents from files, folders and URLs into the store, one clear result per alert.

Every alert gets exactly one line of outcome — accepted, duplicate, rejected (with the rule and the
element), or the whole document refused (with the guard's reason) — so an operator can see at a glance
what came in and why something did not. Index feeds are followed to the documents they link to.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy import select
from sqlmodel import Session

from alertcast.cap import BroadcastEligibility, CapFetcher, FetchError, broadcast_eligibility
from alertcast.cap.pool import CapReadPool
from alertcast.cap.results import CapReadResult
from alertcast.services.audit import AuditBatch
from alertcast.services.audit import record as audit
from alertcast.services.context import AppContext
from alertcast.store.alerts import StoredAlert, store_alert
from alertcast.store.models import Broadcast
from alertcast.store.outbox_admin import cancel_broadcast

CAP_SUFFIXES = frozenset({".xml", ".cap", ".atom", ".rss", ".edxl", ".edxlde"})
MAX_LINKS_PER_FEED = 500
FETCH_CONCURRENCY = 8


@dataclass
class IngestRecord:
    """The outcome for one alert (or one whole document when it was refused or could not be fetched)."""

    source: str
    result: str
    """``accepted``, ``duplicate``, ``rejected``, ``refused`` (whole document) or ``unreachable``."""
    identifier: str | None = None
    sender: str | None = None
    alert_id: int | None = None
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    """Things the operator should know about an accepted alert: not public, drill only, cancels N, ..."""
    cancelled_alerts: list[int] = field(default_factory=list)
    stopped_broadcasts: list[int] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.result in {"rejected", "refused", "unreachable"}

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class IngestReport:
    records: list[IngestRecord] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    read_in_workers: int = 0
    """How many documents worker processes read (the others were read in this process)."""

    @property
    def ok(self) -> bool:
        return not any(r.failed for r in self.records)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.records:
            out[r.result] = out.get(r.result, 0) + 1
        return out


@dataclass
class _Document:
    data: bytes
    source: str


def _flags(stored: StoredAlert, eligibility: BroadcastEligibility) -> list[str]:
    flags = list(eligibility.reasons)
    if stored.cancelled:
        flags.append(f"cancels stored alert(s) {', '.join(map(str, stored.cancelled))}")
    if stored.superseded:
        flags.append(f"updates stored alert(s) {', '.join(map(str, stored.superseded))}")
    flags.extend(f"references unknown alert {ref}" for ref in stored.unknown_references)
    return flags


def ingest_entries(
    session: Session,
    result: CapReadResult,
    data: bytes,
    *,
    now: datetime,
    operator: str,
    audit_batch: AuditBatch | None = None,
) -> list[IngestRecord]:
    """Store the alerts of one read document; links are not followed here.

    Each stored alert is audited in the session's transaction, or noted in ``audit_batch`` for the caller
    to write before it commits (a run of many documents then writes its audit rows in one statement)."""
    if result.refusal is not None:
        return [IngestRecord(result.source, "refused", reason=str(result.refusal))]
    records: list[IngestRecord] = []
    single = len(result.entries) == 1
    for entry in result.entries:
        where = result.source if single else f"{result.source}#{entry.location}"
        alert = entry.alert
        if entry.errors or alert is None:
            if entry.link is not None and not entry.errors:
                continue
            records.append(
                IngestRecord(
                    where,
                    "rejected",
                    identifier=alert.identifier if alert else entry.index.get("identifier"),
                    sender=alert.sender if alert else None,
                    reason="; ".join(str(e) for e in entry.errors),
                )
            )
            continue
        eligibility = broadcast_eligibility(alert, now)
        warnings = [str(w) for w in entry.warnings]
        stored = store_alert(
            session,
            alert,
            raw_xml=data,
            source=where,
            warnings=warnings,
            public=not (eligibility.expired or eligibility.not_for_broadcast),
            drill_only=eligibility.drill_only,
            now=now,
        )
        record = IngestRecord(
            where,
            "duplicate" if stored.duplicate else "accepted",
            identifier=alert.identifier,
            sender=alert.sender,
            alert_id=stored.alert_id,
            reason="already stored (same sender, identifier and sent)" if stored.duplicate else "",
            warnings=warnings,
        )
        if not stored.duplicate:
            record.flags = _flags(stored, eligibility)
            subject = f"alert {stored.alert_id}"
            if audit_batch is None:
                audit(session, operator, "alert.ingest", subject, source=where, flags=record.flags)
            else:
                audit_batch.add(operator, "alert.ingest", subject, source=where, flags=list(record.flags))
            record.cancelled_alerts = stored.cancelled
        records.append(record)
    return records


@contextmanager
def settled_heap() -> Iterator[None]:
    """While a run ingests, the garbage collector leaves alone what was alive before it began.

    Reading and storing a burst of documents makes garbage fast, and each full collection scanned the
    whole settled heap (SQLAlchemy, lxml, the CAP schemas: some 100,000 objects) again, about a tenth of
    an ingest's CPU. Frozen, those objects are skipped; unfrozen afterwards, anything of theirs that
    became garbage meanwhile is collected as usual, so nothing leaks in a process that ingests for days.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def stop_broadcasts_of_cancelled_alerts(ctx: AppContext, alert_ids: Iterable[int]) -> list[int]:
    """A CAP Cancel stops whatever is still pending of the broadcasts made from the alerts it cancels.

    Runs after the Cancel is committed (the outbox cancels in its own transaction); the engine's own sweep
    of cancelled alerts covers a crash between the two.
    """
    wanted = sorted(set(alert_ids))
    if not wanted:
        return []
    with ctx.session() as session:
        ids = list(
            session.execute(
                # "done" too: a finished broadcast may still have fallback steps waiting to go out.
                select(Broadcast.id).where(
                    Broadcast.alert_id.in_(wanted), Broadcast.status.in_(("active", "done"))
                )
            ).scalars()
        )
    for broadcast_id in ids:
        cancel_broadcast(ctx.engine, broadcast_id, operator=f"{ctx.config.operator} (CAP Cancel)")
    return ids


def _walk(target: Path, skipped: list[str]) -> Iterator[Path]:
    if target.is_dir():
        for path in sorted(p for p in target.rglob("*") if p.is_file()):
            if path.suffix.lower() in CAP_SUFFIXES:
                yield path
            else:
                skipped.append(str(path))
    else:
        yield target


def _is_url(target: str) -> bool:
    return urlsplit(target).scheme.lower() in {"http", "https"}


def _local_path(link: str) -> Path | None:
    parts = urlsplit(link)
    return Path(unquote(parts.path)) if parts.scheme == "file" else None


async def _fetch_all(urls: list[str], fetcher: CapFetcher) -> list[_Document | IngestRecord]:
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(url: str) -> _Document | IngestRecord:
        async with gate:
            try:
                fetched = await fetcher.fetch(url)
            except FetchError as exc:
                return IngestRecord(url, "unreachable", reason=exc.reason)
            return _Document(fetched.data or b"", fetched.url)

    return list(await asyncio.gather(*(one(u) for u in urls)))


def _read_local(path: Path) -> _Document | IngestRecord:
    try:
        return _Document(path.read_bytes(), str(path))
    except FileNotFoundError:
        return IngestRecord(str(path), "unreachable", reason="no such file")
    except OSError as exc:
        return IngestRecord(str(path), "unreachable", reason=f"cannot read: {exc.strerror}")


def ingest(
    ctx: AppContext,
    targets: Iterable[str],
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    fetcher_options: dict[str, object] | None = None,
    read_pool: CapReadPool | None = None,
) -> IngestReport:
    """Ingest files, folders (recursively) and http(s) URLs; follow index feeds to their CAP documents.

    With ``dry_run`` everything is read, validated and checked for duplicates, and nothing is stored.
    Documents are read in worker processes when a batch is big enough (``cap.pool.MIN_DOCUMENTS`` or
    ``MIN_BYTES``) and the load average shows a CPU free beside this process's, and stored here in input
    order, in one transaction: the report is the same either way. ``read_pool`` overrides the choice
    (``CapReadPool(0)`` reads in this process) and stays the caller's to close, so a long-running caller
    keeps its workers from one ingest to the next.
    """
    now = now or datetime.now(UTC)
    report = IngestReport()
    local: list[Path] = []
    urls: list[str] = []
    for target in targets:
        if _is_url(target):
            urls.append(target)
        else:
            local.extend(_walk(Path(target), report.skipped_files))
    audit_batch = AuditBatch()
    with (
        settled_heap(),
        Session(ctx.engine, expire_on_commit=False) as session,
        # A pool the caller passed stays the caller's to close; one made here is closed here.
        nullcontext(read_pool) if read_pool is not None else CapReadPool() as pool,
    ):
        queue: list[_Document | IngestRecord] = [_read_local(p) for p in local]
        seen: set[str] = set()
        with asyncio.Runner() as runner:
            fetcher = CapFetcher(**(fetcher_options or {}))  # type: ignore[arg-type]
            try:
                queue.extend(runner.run(_fetch_all(urls, fetcher)) if urls else [])
                while queue:
                    # First in, first out, a wave at a time: the documents linked from this wave are
                    # stored after all of it, exactly as a one-at-a-time queue would store them.
                    wave, queue = queue, []
                    results = pool.read(
                        [(item.data, item.source) for item in wave if isinstance(item, _Document)]
                    )
                    for item in wave:
                        if isinstance(item, IngestRecord):
                            report.records.append(item)
                            continue
                        seen.add(item.source)
                        result = next(results)
                        records = ingest_entries(
                            session,
                            result,
                            item.data,
                            now=now,
                            operator=ctx.config.operator,
                            audit_batch=audit_batch,
                        )
                        report.records.extend(records)
                        links = [link for link in result.links if link not in seen][:MAX_LINKS_PER_FEED]
                        seen.update(links)
                        remote = [link for link in links if _is_url(link)]
                        queue.extend(_read_local(p) for link in links if (p := _local_path(link)) is not None)
                        if remote:
                            queue.extend(runner.run(_fetch_all(remote, fetcher)))
            finally:
                runner.run(fetcher.aclose())
        report.read_in_workers = pool.pooled_documents
        if dry_run:
            session.rollback()
            return report
        audit_batch.write(session)
        session.commit()
    for record in report.records:
        if record.cancelled_alerts:
            record.stopped_broadcasts = stop_broadcasts_of_cancelled_alerts(ctx, record.cancelled_alerts)
            if record.stopped_broadcasts:
                record.flags.append(f"stopped broadcast(s) {', '.join(map(str, record.stopped_broadcasts))}")
    return report

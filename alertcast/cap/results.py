"""What reading one CAP document produced: plain values only, no XML objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from alertcast.cap.issues import CapIssue
from alertcast.core.cap_model import Alert, Record

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CapEntry:
    """One alert found in a document: read (``alert``), to fetch (``link``), or rejected (``errors``).

    ``location`` says where in the document it sat (``alert``, ``feed/entry[3]/content/alert``,
    ``EDXLDistribution/contentObject[0]/xmlContent/embeddedXMLContent/alert``). Issue paths are relative to
    the alert itself. For an index-feed entry, ``title`` and ``index`` (its ``cap:`` summary elements such as
    ``identifier``, ``event``, ``expires``) let a relay decide whether to fetch ``link`` at all.
    """

    location: str
    alert: Alert | None = None
    link: str | None = None
    title: str | None = None
    index: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    warnings: tuple[CapIssue, ...] = ()
    errors: tuple[CapIssue, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.errors and (self.alert is not None or self.link is not None)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with ``index`` as a plain dict (a mapping proxy cannot be pickled), so results can come
        back from a reading worker process."""
        fields = (self.location, self.alert, self.link, self.title, dict(self.index))
        return (_rebuild_entry, (*fields, self.warnings, self.errors))


def _rebuild_entry(
    location: str,
    alert: Alert | None,
    link: str | None,
    title: str | None,
    index: dict[str, str],
    warnings: tuple[CapIssue, ...],
    errors: tuple[CapIssue, ...],
) -> CapEntry:
    return CapEntry(location, alert, link, title, MappingProxyType(index), warnings, errors)


@dataclass(frozen=True, slots=True)
class CapReadResult(Record):
    """Everything found in one document, or the reason it was refused as a whole (``refusal``)."""

    source: str
    kind: str
    """``alert``, ``atom``, ``rss``, ``edxl``, ``wrapper``, or ``refused``."""
    entries: tuple[CapEntry, ...] = ()
    refusal: CapIssue | None = None
    warnings: tuple[CapIssue, ...] = ()
    """Document-level warnings (e.g. feed metadata); each entry carries its own."""

    @property
    def accepted(self) -> bool:
        """True when the document was not refused and every entry in it was accepted."""
        return self.refusal is None and all(entry.accepted for entry in self.entries)

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return tuple(entry.alert for entry in self.entries if entry.alert is not None and not entry.errors)

    @property
    def links(self) -> tuple[str, ...]:
        """Distinct CAP document links to fetch, in document order (several index entries may share one)."""
        seen: dict[str, None] = {}
        for entry in self.entries:
            if entry.link is not None and not entry.errors:
                seen.setdefault(entry.link)
        return tuple(seen)

    @property
    def rejected(self) -> tuple[CapEntry, ...]:
        return tuple(entry for entry in self.entries if entry.errors)

    def problems(self) -> list[str]:
        """Every refusal and error as one line each, for logs and command output."""
        lines = [f"{self.source}: {self.refusal}"] if self.refusal else []
        for entry in self.rejected:
            lines.extend(f"{self.source} [{entry.location}]: {error}" for error in entry.errors)
        return lines

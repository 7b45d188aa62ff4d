"""Reading address-book files (CSV with a header row, vCard 3.0/4.0) into validated contact records.

A whole-file problem (not UTF-8, empty, binary, neither CSV nor vCard, no usable column) raises
:class:`ContactFileError` before anything is stored. Row problems are collected per row so the good rows
still go in; a number that appears twice in one file is reported, never silently merged.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from alertcast.core.contact_rows import (
    COLUMNS,
    REACH_COLUMNS,
    ContactRecord,
    RowProblem,
    build_record,
    contact_key,
)
from alertcast.services.worker_pool import map_chunks, usable_cores

MAX_FILE_BYTES = 200 * 1024 * 1024
_LARGE = 1024 * 1024
"""Files above this many characters (some 10,000 rows) are validated on every core; below it, starting
worker processes would cost more than it saves."""
_CHUNK_ROWS = 2000


class ContactFileError(ValueError):
    """The file as a whole cannot be read as contacts; nothing was imported."""


@dataclass(slots=True)
class ParsedRow:
    where: str
    record: ContactRecord


@dataclass
class ParsedFile:
    kind: str
    """``csv`` or ``vcard``."""
    rows: list[ParsedRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """File-level remarks that do not reject anything, e.g. unknown columns that were ignored."""


_Row = tuple[str, "list[str] | dict[str, str]"]
"""Where a row is (``line 14``, ``vCard 3``) and its cells: in header order for CSV, by column for vCard."""


@dataclass
class ContactStream:
    """A contacts file checked as a whole, whose rows are validated while they are read.

    ``chunks()`` yields the good rows in file order, a few thousand at a time, so a caller can store one
    chunk while the next is still being validated (on every core, for a large file). ``problems`` fills
    as the rows go by; a file broken half-way raises ContactFileError from ``chunks()``.
    """

    kind: str
    """``csv`` or ``vcard``."""
    notes: list[str]
    rows: Iterator[_Row]
    names: tuple[str, ...]
    region: str
    default_language: str
    large: bool
    problems: list[RowProblem] = field(default_factory=list)

    def chunks(self) -> Iterator[list[ParsedRow]]:
        work = partial(
            _validate_chunk, names=self.names, region=self.region, default_language=self.default_language
        )
        workers = usable_cores() if self.large else 1
        first_seen: dict[tuple[str, str], str] = {}
        for results in map_chunks(work, _chunked(self.rows, _CHUNK_ROWS), workers=workers):
            kept: list[ParsedRow] = []
            for where, result in results:
                if isinstance(result, list):
                    self.problems.extend(result)
                elif (repeat := _repeat(first_seen, where, result)) is not None:
                    self.problems.append(repeat)
                else:
                    kept.append(ParsedRow(where, result))
            yield kept


def _repeat(first_seen: dict[tuple[str, str], str], where: str, rec: ContactRecord) -> RowProblem | None:
    """A row whose number (or address) an earlier row of the file had: reported with both places named."""
    key = contact_key(rec.phone, rec.email, rec.apprise_urls)
    if not key[1]:
        return None
    if key in first_seen:
        return RowProblem(where, key[0], f"{key[1]} is already on {first_seen[key]} of this file")
    first_seen[key] = where
    return None


def _decode(path: Path, data: bytes) -> str:
    if not data.strip():
        raise ContactFileError(f"{path}: the file is empty")
    if b"\x00" in data[:4096]:
        raise ContactFileError(
            f"{path}: this is not a text file (it contains NUL bytes; UTF-16 is not supported)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ContactFileError(
            f"{path}: line {line}: byte 0x{data[exc.start]:02X} is not UTF-8; save the file as UTF-8 and retry"
        ) from None


def read_contact_file(path: Path, *, region: str, default_language: str = "en") -> ParsedFile:
    """Read and validate every row of ``path``; raises ContactFileError for a file that is not contacts."""
    stream = open_contact_file(path, region=region, default_language=default_language)
    rows = [row for chunk in stream.chunks() for row in chunk]
    return ParsedFile(kind=stream.kind, rows=rows, problems=stream.problems, notes=stream.notes)


def open_contact_file(path: Path, *, region: str, default_language: str = "en") -> ContactStream:
    """Open ``path`` as contacts, checking it as a whole (size, encoding, kind, header) before any row."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ContactFileError(f"{path}: {size} bytes is over the {MAX_FILE_BYTES} byte limit")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ContactFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ContactFileError(f"{path}: is a folder, not a contacts file") from None
    except OSError as exc:
        raise ContactFileError(f"{path}: cannot read: {exc.strerror}") from None
    text = _decode(path, data)
    if text.lstrip().upper().startswith("BEGIN:VCARD"):
        kind, notes, rows, names = "vcard", [], _vcard_rows(path, text), COLUMNS
    else:
        kind = "csv"
        notes, rows, names = _csv_rows(path, text)
    return ContactStream(kind, notes, rows, names, region, default_language, large=len(text) > _LARGE)


def _csv_rows(path: Path, text: str) -> tuple[list[str], Iterator[_Row], tuple[str, ...]]:
    """Check the header; return notes on it, the rows to come, and the column names."""
    sample = text[:8192]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise ContactFileError(f"{path}: not a CSV file with a header row ({exc})") from None
    names = [h.strip().lower().replace(" ", "_") for h in header]
    if not set(names) & set(REACH_COLUMNS):
        raise ContactFileError(
            f"{path}: line 1: not a contacts file: the header needs a phone, email or apprise column "
            f"(found: {', '.join(h for h in header if h) or 'nothing'})"
        )
    duplicates = sorted({n for n in names if names.count(n) > 1 and n})
    if duplicates:
        raise ContactFileError(f"{path}: line 1: column(s) named twice: {', '.join(duplicates)}")
    notes = []
    unknown = [h for h, n in zip(header, names, strict=True) if n and n not in COLUMNS]
    if unknown:
        notes.append(f"ignored unknown column(s): {', '.join(unknown)}")

    def rows() -> Iterator[_Row]:
        try:
            for cells in reader:
                yield f"line {reader.line_num}", cells
        except csv.Error as exc:
            raise ContactFileError(f"{path}: line {reader.line_num}: broken CSV: {exc}") from None

    return notes, rows(), tuple(names)


def _validate_chunk(
    rows: list[_Row], *, names: tuple[str, ...], region: str, default_language: str
) -> list[tuple[str, ContactRecord | list[RowProblem]]]:
    """Runs in a worker process for large files: pure, so it needs nothing but its arguments."""
    results: list[tuple[str, ContactRecord | list[RowProblem]]] = []
    for where, cells in rows:
        if isinstance(cells, dict):
            values = cells
        elif not any(c.strip() for c in cells):
            continue  # a blank line, or a row of empty cells a spreadsheet left behind
        elif len(cells) > len(names):
            problem = RowProblem(where, "row", f"{len(cells)} cells but the header has {len(names)} columns")
            results.append((where, [problem]))
            continue
        else:
            values = dict(zip(names, cells, strict=False))
        results.append((where, build_record(values, where, region=region, default_language=default_language)))
    return results


def _chunked(rows: Iterable[_Row], size: int) -> Iterator[list[_Row]]:
    chunk: list[_Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _vcard_values(card: object) -> dict[str, str]:
    """Map one vobject vCard onto the CSV column names, so both formats share one validator."""
    contents: dict[str, list] = card.contents  # type: ignore[attr-defined]

    def first(key: str) -> str:
        items = contents.get(key) or []
        return str(items[0].value).strip() if items else ""

    tel = first("tel")
    if tel.lower().startswith("tel:"):
        tel = tel[4:]
    values = {"name": first("fn"), "phone": tel, "email": first("email"), "language": first("lang")}
    geo = first("geo")
    if geo:
        geo = geo[4:] if geo.lower().startswith("geo:") else geo
        lat, _, lon = geo.replace(";", ",").partition(",")
        values["lat"], values["lon"] = lat.strip(), lon.split(";")[0].strip()
    categories = contents.get("categories") or []
    values["groups"] = ";".join(str(g) for item in categories for g in item.value)
    urls = [str(item.value) for item in contents.get("impp", []) + contents.get("x-apprise", [])]
    values["apprise"] = " ".join(urls)
    return values


def _iter_vcards(path: Path, text: str) -> Iterator[object]:
    import vobject  # local: only vCard imports pay for it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield from vobject.readComponents(text, validate=False)
        except Exception as exc:  # vobject raises ParseError and plain errors alike
            line = getattr(exc, "lineNumber", None)
            at = f"line {line}: " if line else ""
            raise ContactFileError(f"{path}: {at}broken vCard: {exc}") from None


def _vcard_rows(path: Path, text: str) -> Iterator[_Row]:
    for index, card in enumerate(_iter_vcards(path, text), start=1):
        if getattr(card, "name", "").upper() != "VCARD":
            raise ContactFileError(f"{path}: vCard {index}: expected BEGIN:VCARD, got {card.name}")  # type: ignore[attr-defined]
        yield f"vCard {index}", _vcard_values(card)


def to_csv(rows: Iterable[dict[str, object]]) -> str:
    """Contacts as CSV with the import columns, so an export re-imports unchanged."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()

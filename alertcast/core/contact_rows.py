"""Turning one address-book row into a contact, or into reasons it cannot be one.

Import files come from spreadsheets people keep by hand; a single bad cell must not sink the file, and
every problem must say where it is (line, field) and what is wrong, so the person can fix the source.
This module is pure: it sees field values, not files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import phonenumbers

COLUMNS = ("name", "phone", "email", "language", "groups", "lat", "lon", "apprise", "geocodes", "opted_out")
"""The columns an import file may have; at least one of phone, email or apprise must be present."""

REACH_COLUMNS = ("phone", "email", "apprise")

_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]+$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$|^mailto:\S+$", re.IGNORECASE)
_GEOCODE = re.compile(r"^[A-Za-z0-9_.-]+=\S+$")
_TRUE = {"1", "yes", "y", "true", "t", "x"}
_FALSE = {"", "0", "no", "n", "false", "f"}
LIST_SEPARATORS = re.compile(r"[;|]")


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One thing wrong with one row: where (``line``, ``field``), the value, and why."""

    where: str
    """``line 14`` for CSV, ``vCard 3`` for vCard."""
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


class ContactRecord(NamedTuple):
    """A contact as read from a file, normalised (E.164 phone, lower-case e-mail, tidy language tag).

    A named tuple rather than a dataclass: a large import builds and moves 100,000 of these between
    processes, and a tuple is several times cheaper to build and to pickle.
    """

    name: str
    phone: str | None = None
    email: str | None = None
    language: str = "en"
    groups: tuple[str, ...] = ()
    lat: float | None = None
    lon: float | None = None
    apprise_urls: tuple[str, ...] = ()
    geocodes: tuple[str, ...] = ()
    opted_out: bool = False


def contact_key(phone: str | None, email: str | None, urls: Iterable[str]) -> tuple[str, str]:
    """How a contact is known within one file or one import: its phone, else its e-mail, else its first
    Apprise URL (``("apprise", "")`` when it has none). A second row with the same key is a repeat."""
    if phone:
        return ("phone", phone)
    if email:
        return ("email", email)
    return ("apprise", next(iter(urls), ""))


def normalise_phone(raw: str, region: str) -> str:
    """E.164 form of ``raw``; raises ValueError with a reason a person can act on."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{raw!r} is not a phone number ({exc._msg})") from None
    # Most numbers in a book are local: checking the default region first skips the scan over every
    # region sharing a country code (+1 alone has 25), which is most of the cost of a full check.
    if not (phonenumbers.is_valid_number_for_region(number, region) or phonenumbers.is_valid_number(number)):
        raise ValueError(f"{raw!r} is not a valid number (read with default region {region})")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=512)
def normalise_language(raw: str) -> str:
    """``EN_us`` → ``en-US``: language lower-case, region upper-case, as BCP 47 writes them.

    Cached: a book holds a handful of distinct tags over thousands of rows.
    """
    tag = raw.strip().replace("_", "-")
    if not _LANGUAGE.match(tag):
        raise ValueError(f"{raw!r} is not a language tag (e.g. en, es-419, fr-CA)")
    parts = tag.split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        out.append(part.upper() if len(part) == 2 else part.lower() if part.isdigit() else part.title())
    return "-".join(out)


def split_list(raw: str) -> tuple[str, ...]:
    """Cells that hold several values separate them with ``;`` or ``|``."""
    if not raw:
        return ()
    items = raw.split(";") if "|" not in raw else LIST_SEPARATORS.split(raw)
    return tuple(clean for item in items if (clean := item.strip()))


def _coordinate(raw: str, low: float, high: float, what: str) -> float:
    try:
        value = float(raw.strip().replace(",", "."))
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None
    if not low <= value <= high or value != value:
        raise ValueError(f"{value} is outside {low}..{high} ({what})")
    return value


def build_record(
    values: Mapping[str, str],
    where: str,
    *,
    region: str,
    default_language: str = "en",
) -> ContactRecord | list[RowProblem]:
    """Validate one row's cells (column name → text); returns the record, or every problem found."""
    problems: list[RowProblem] = []

    def get(key: str) -> str:
        return (values.get(key) or "").strip()

    def bad(column: str, message: str) -> None:
        problems.append(RowProblem(where, column, message))

    phone = email = None
    if raw := get("phone"):
        try:
            phone = normalise_phone(raw, region)
        except ValueError as exc:
            bad("phone", str(exc))
    if raw := get("email"):
        if raw.lower().startswith("mailto:"):
            raw = raw[7:]
        if _EMAIL.match(raw):
            email = raw.lower()
        else:
            bad("email", f"{raw!r} is not an e-mail address")
    language = default_language
    if raw := get("language"):
        try:
            language = normalise_language(raw)
        except ValueError as exc:
            bad("language", str(exc))
    lat = lon = None
    raw_lat, raw_lon = get("lat"), get("lon")
    if raw_lat or raw_lon:
        if not (raw_lat and raw_lon):
            bad("lat" if not raw_lat else "lon", "latitude and longitude go together; one is missing")
        else:
            try:
                lat = _coordinate(raw_lat, -90, 90, "latitude")
            except ValueError as exc:
                bad("lat", str(exc))
            try:
                lon = _coordinate(raw_lon, -180, 180, "longitude")
            except ValueError as exc:
                bad("lon", str(exc))
    urls = tuple(get("apprise").split())
    for url in urls:
        if not _URL.match(url):
            bad("apprise", f"{url!r} is not a notification URL (scheme://...)")
    geocodes = split_list(get("geocodes"))
    for code in geocodes:
        if not _GEOCODE.match(code):
            bad("geocodes", f"{code!r} is not NAME=VALUE (e.g. SAME=006037)")
    opted = get("opted_out").lower()
    if opted not in _TRUE | _FALSE:
        bad("opted_out", f"{opted!r} is not yes/no")
    if not problems and not (phone or email or urls):
        bad("phone", "no way to reach this contact: phone, email and apprise are all empty")
    if problems:
        return problems
    return ContactRecord(
        name=get("name") or phone or email or urls[0],
        phone=phone,
        email=email,
        language=language,
        groups=split_list(get("groups")),
        lat=lat,
        lon=lon,
        apprise_urls=urls,
        geocodes=tuple(c.split("=", 1)[0].upper() + "=" + c.split("=", 1)[1] for c in geocodes),
        opted_out=opted in _TRUE,
    )

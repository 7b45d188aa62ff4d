"""Large imports: rows validated in worker processes match in-process validation, and the bulk write
puts every row's groups on the right contact on both stores (SQLite and PostgreSQL)."""

from __future__ import annotations

import pickle
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from alertcast.config import Config
from alertcast.services import contact_files
from alertcast.services import contacts as svc
from alertcast.services.contact_files import ContactFileError
from alertcast.services.context import AppContext
from alertcast.store.db import create_db_engine
from alertcast.store.models import Contact, ContactGroup, GroupMember

HEADER = "name,phone,email,language,groups,lat,lon,apprise\n"


def book(rows: int, seed: int = 3) -> str:
    """A book with every kind of row: phone, e-mail only, URL only, bad cells, blanks, duplicates."""
    rng = random.Random(seed)
    lines = [HEADER]
    for i in range(rows):
        kind = i % 10
        group = rng.choice(["fire", "ems", "schools"])
        if kind == 0:
            lines.append(f"Mail {i},,mail{i}@example.org,es,{group},,,\n")
        elif kind == 1:
            lines.append(f"Chat {i},,,fr,{group},,,ntfy://ntfy.example/person{i}\n")
        elif kind == 2:
            lines.append(f"Bad {i},555-{i},,en,{group},,,\n")  # not a valid number
        elif kind == 3:
            lines.append(",,,,,,,\n")  # a blank row a spreadsheet left behind
        elif kind == 4:
            lines.append(f"Wide {i},+1202555{i:04d},,en,{group},,,,extra,cells\n")
        elif kind == 5:
            lines.append(f"Again {i},,MAIL{i - 5}@example.org,en,{group},,,\n")  # same address as 5 rows up
        else:
            lines.append(f"Person {i},(202) 555-{i:04d},,en,{group};residents,38.5,-121.4,\n")
    return "".join(lines)


POOLED_READ = r"""
import pickle, sys, threading
from alertcast.services import contact_files
from alertcast.services.contact_files import ContactFileError
contact_files._LARGE, contact_files._CHUNK_ROWS = 0, 7
contact_files.usable_cores = lambda: 2
assert threading.active_count() == 1, "with a thread running the pool would not be used"
parsed = contact_files.read_contact_file(contact_files.Path(sys.argv[1]), region="US")
sys.stdout.buffer.write(pickle.dumps((parsed.rows, parsed.problems)))
"""


def test_worker_processes_read_a_book_exactly_as_this_process_does(tmp_path: Path) -> None:
    """The pooled read runs in a fresh interpreter: the pool never forks from a process with threads,
    and other tests may have left some in this one."""
    path = tmp_path / "book.csv"
    path.write_text(book(400), encoding="utf-8")
    alone = contact_files.read_contact_file(path, region="US")
    done = subprocess.run(
        [sys.executable, "-c", POOLED_READ, str(path)], capture_output=True, timeout=120, check=True
    )
    rows, problems = pickle.loads(done.stdout)
    assert rows == alone.rows
    assert problems == alone.problems
    assert len(alone.rows) == 400 - 40 * 4
    assert {p.field for p in alone.problems} == {"phone", "row", "email"}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, db_url: str) -> Iterator[AppContext]:
    url = (
        db_url if request.param == "sqlite" else request.getfixturevalue("pg_cluster").create_database("book")
    )
    app = AppContext(Config(db_url=url, operator="tester"), create_db_engine(url))
    yield app
    app.close()


def memberships(ctx: AppContext) -> set[tuple[str, str]]:
    """(group, the contact's phone / e-mail / URL) for every membership, read independently of the import."""
    with ctx.session() as session:
        rows = session.execute(
            select(ContactGroup.name, Contact.phone, Contact.email, Contact.apprise_urls)
            .join(GroupMember, GroupMember.group_id == ContactGroup.id)
            .join(Contact, Contact.id == GroupMember.contact_id)
        ).all()
    return {(group, phone or email or urls[0]) for group, phone, email, urls in rows}


def expected_memberships(text: str) -> set[tuple[str, str]]:
    parsed_rows = contact_files.read_contact_file(_write(text), region="US").rows
    return {
        (group, r.record.phone or r.record.email or r.record.apprise_urls[0])
        for r in parsed_rows
        for group in r.record.groups
    }


def _write(text: str) -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp())
    path = folder / "book.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_bulk_import_puts_groups_on_the_right_contacts_and_reimport_changes_nothing(
    store: AppContext, tmp_path: Path
) -> None:
    text = book(300)
    path = tmp_path / "book.csv"
    path.write_text(text, encoding="utf-8")
    first = svc.import_contacts(store, path)
    assert first.added == 300 - 30 * 4  # minus the bad, blank, too wide and repeated rows
    assert memberships(store) == expected_memberships(text)
    again = svc.import_contacts(store, path)
    assert (again.added, again.updated, again.unchanged, again.memberships_added) == (0, 0, first.added, 0)
    # One URL-only contact changes language; only that row is updated, and its groups stay with it.
    changed = text.replace("Chat 1,,,fr,", "Chat 1,,,de,")
    path.write_text(changed, encoding="utf-8")
    third = svc.import_contacts(store, path)
    assert (third.added, third.updated) == (0, 1)
    assert memberships(store) == expected_memberships(text)


def test_a_book_broken_after_thousands_of_good_rows_stores_nothing(ctx: AppContext, tmp_path: Path) -> None:
    """The first chunks are written before the break is read; the one transaction must take them back."""
    good = "".join(f"Person {i},+1202555{i:04d},,en,fire,,,\n" for i in range(6000))
    broken = "Broken,2025550100,,en,fire,,," + "x" * 200_000 + "\n"  # over the csv module's field limit
    path = tmp_path / "book.csv"
    path.write_text(HEADER + good + broken, encoding="utf-8")
    with pytest.raises(ContactFileError, match=r"line 6002: broken CSV"):
        svc.import_contacts(ctx, path)
    with ctx.session() as session:
        assert session.execute(select(Contact.id)).first() is None
        assert session.execute(select(ContactGroup.id)).first() is None

"""The address books shipped in contacts/ import as documented (the demo depends on them)."""

from __future__ import annotations

from alertcast.services import contacts as svc
from alertcast.services.context import AppContext
from tests.conftest import REPO

BOOKS = REPO / "contacts"


def test_sample_book_imports_cleanly_with_its_groups(ctx: AppContext) -> None:
    report = svc.import_contacts(ctx, BOOKS / "sample-contacts.csv")
    assert report.rejected == [] and report.added >= 200
    groups = {g.name: g.members for g in svc.list_groups(ctx)}
    assert set(groups) >= {"fire", "ems", "public-works", "schools", "residents"}
    people = svc.list_contacts(ctx)
    assert len({c.language.split("-")[0] for c in people}) >= 4
    assert sum(c.lat is not None for c in people) >= 100
    assert any(c.phone is None and c.email for c in people)
    assert any(c.phone is None and c.apprise for c in people)
    assert any(c.opted_out for c in people)
    again = svc.import_contacts(ctx, BOOKS / "sample-contacts.csv")
    assert (again.added, again.updated, again.unchanged) == (0, 0, report.added)


def test_vcard_sample(ctx: AppContext) -> None:
    report = svc.import_contacts(ctx, BOOKS / "sample-contacts.vcf")
    assert (report.added, report.rejected) == (3, [])


def test_broken_sample_reports_every_bad_row_in_file_order(ctx: AppContext) -> None:
    report = svc.import_contacts(ctx, BOOKS / "sample-contacts-broken.csv")
    assert report.added == 2
    lines = [int(p.where.split()[-1]) for p in report.rejected]
    assert lines == sorted(lines)
    assert sorted(set(lines)) == list(range(3, 16))
    fields = {int(p.where.split()[-1]): p.field for p in report.rejected}
    assert fields[3] == "phone" and fields[5] == "email" and fields[13] == "phone" and fields[14] == "row"

"""Contact import rules, against a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from alertcast.services import contacts as svc
from alertcast.services.contact_files import ContactFileError
from alertcast.services.context import AppContext
from alertcast.store.models import Contact

HEADER = "name,phone,email,language,groups,lat,lon,apprise\n"


def write(tmp_path: Path, text: str, name: str = "book.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def stored(ctx: AppContext) -> list[Contact]:
    with ctx.session() as session:
        return list(session.execute(select(Contact).order_by(Contact.id)).scalars())


def test_import_normalises_numbers_and_creates_groups(ctx: AppContext, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "Ana López,(202) 555-0143,Ana@Example.org,es_mx,fire;ems,38.58,-121.49,\n"
        "Bo Chen,+44 20 7946 0958,,zh-hant-tw,residents,,,\n"
        "Chat Only,,,en,residents,,,ntfy://ntfy.example/alerts\n",
    )
    report = svc.import_contacts(ctx, path)
    assert (report.added, report.updated, report.unchanged, report.rejected) == (3, 0, 0, [])
    assert sorted(report.groups_created) == ["ems", "fire", "residents"]
    ana, bo, chat = stored(ctx)
    assert ana.phone == "+12025550143" and ana.email == "ana@example.org" and ana.language == "es-MX"
    assert (ana.lat, ana.lon) == (38.58, -121.49)
    assert bo.phone == "+442079460958" and bo.language == "zh-Hant-TW"
    assert chat.phone is None and chat.apprise_urls == ["ntfy://ntfy.example/alerts"]
    groups = {g.name: g.members for g in svc.list_groups(ctx)}
    assert groups == {"ems": 1, "fire": 1, "residents": 2}


def test_reimport_changes_nothing_and_changed_row_updates(ctx: AppContext, tmp_path: Path) -> None:
    text = HEADER + "Ana,(202) 555-0143,ana@example.org,es,fire,,,\nBo,2025550199,bo@example.org,en,fire,,,\n"
    path = write(tmp_path, text)
    first = svc.import_contacts(ctx, path)
    before = [(c.id, c.name, c.phone, c.updated_at) for c in stored(ctx)]
    again = svc.import_contacts(ctx, path)
    assert (again.added, again.updated, again.unchanged, again.memberships_added) == (0, 0, 2, 0)
    assert [(c.id, c.name, c.phone, c.updated_at) for c in stored(ctx)] == before
    assert first.memberships_added == 2
    # Same phone written differently, new name: matched by phone and updated, not duplicated.
    changed = write(tmp_path, HEADER + "Ana Maria,+1 202-555-0143,ana@example.org,es,fire,,,\n", "b.csv")
    report = svc.import_contacts(ctx, changed)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 0)
    # New phone but known e-mail: matched by e-mail, phone updated.
    moved = write(tmp_path, HEADER + "Bo,2025550177,BO@example.org,en,fire,,,\n", "c.csv")
    report = svc.import_contacts(ctx, moved)
    assert (report.added, report.updated) == (0, 1)
    names = {c.name: c.phone for c in stored(ctx)}
    assert names == {"Ana Maria": "+12025550143", "Bo": "+12025550177"}


def test_bad_rows_are_reported_with_line_and_field_and_good_rows_still_go_in(
    ctx: AppContext, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        HEADER + "Good One,2025550101,,en,,,,\n"
        "Bad Phone,555-12,,en,,,,\n"
        "Bad Mail,,not-an-address,en,,,,\n"
        "Bad Geo,2025550102,,en,,91.5,10,\n"
        "Half Geo,2025550103,,en,,45.0,,\n"
        "Nobody,,,en,,,,\n"
        "Bad Lang,2025550104,,english language,,,,\n"
        "Bad Url,2025550105,,en,,,,not a url\n"
        "\n"
        "Good Two,2025550106,,en,,,,\n",
    )
    report = svc.import_contacts(ctx, path)
    assert report.added == 2
    found = {(p.where, p.field) for p in report.rejected}
    assert found == {
        ("line 3", "phone"),
        ("line 4", "email"),
        ("line 5", "lat"),
        ("line 6", "lon"),
        ("line 7", "phone"),
        ("line 8", "language"),
        ("line 9", "apprise"),
    }
    assert all(p.message for p in report.rejected)
    assert "'555-12'" in next(p.message for p in report.rejected if p.where == "line 3")
    assert [c.name for c in stored(ctx)] == ["Good One", "Good Two"]


def test_duplicate_numbers_inside_one_file_are_reported_not_merged(ctx: AppContext, tmp_path: Path) -> None:
    path = write(
        tmp_path, HEADER + "A,2025550143,,en,,,,\nB,+1 (202) 555-0143,,en,,,,\nC,2025550144,,en,,,,\n"
    )
    report = svc.import_contacts(ctx, path)
    assert report.added == 2
    [problem] = report.rejected
    assert problem.where == "line 3" and problem.field == "phone" and "line 2" in problem.message
    assert [c.name for c in stored(ctx)] == ["A", "C"]


@pytest.mark.parametrize(
    ("content", "encoding", "needle"),
    [
        (HEADER + "José,2025550143,,es,,,,\n", "latin-1", "not UTF-8"),
        ("", "utf-8", "empty"),
        ("\x00\x01\x02binary", "utf-8", "NUL"),
        ("first,last\nAna,Lopez\n", "utf-8", "needs a phone, email or apprise column"),
        ("phone,phone\n1,2\n", "utf-8", "named twice"),
    ],
)
def test_unreadable_files_get_one_clear_error_and_change_nothing(
    ctx: AppContext, tmp_path: Path, content: str, encoding: str, needle: str
) -> None:
    svc.import_contacts(ctx, write(tmp_path, HEADER + "Keep,2025550100,,en,,,,\n", "keep.csv"))
    path = write(tmp_path, content, encoding=encoding)
    with pytest.raises(ContactFileError, match=needle) as info:
        svc.import_contacts(ctx, path)
    assert str(path) in str(info.value)
    assert [c.name for c in stored(ctx)] == ["Keep"]


def test_missing_file_and_folder_are_clear_errors(ctx: AppContext, tmp_path: Path) -> None:
    with pytest.raises(ContactFileError, match="no such file"):
        svc.import_contacts(ctx, tmp_path / "nope.csv")
    with pytest.raises(ContactFileError, match="folder"):
        svc.import_contacts(ctx, tmp_path)


def test_vcard_3_and_4(ctx: AppContext, tmp_path: Path) -> None:
    cards = (
        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ana María López\r\nTEL;TYPE=cell;VALUE=uri:tel:+1-202-555-0143\r\n"
        "EMAIL:ana@example.org\r\nLANG:es\r\nGEO:geo:38.58,-121.49\r\nCATEGORIES:fire,ems\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Smith;John;;;\r\nFN:John Smith\r\nTEL;TYPE=CELL:(202) 555-0199\r\n"
        "GEO:38.60;-121.50\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:No Way\r\nTEL:12\r\nEND:VCARD\r\n"
    )
    report = svc.import_contacts(ctx, write(tmp_path, cards, "book.vcf"))
    assert report.kind == "vcard" and report.added == 2
    assert [(p.where, p.field) for p in report.rejected] == [("vCard 3", "phone")]
    ana, john = stored(ctx)
    assert (ana.phone, ana.language, ana.lat, ana.lon) == ("+12025550143", "es", 38.58, -121.49)
    assert (john.phone, john.lat, john.lon) == ("+12025550199", 38.60, -121.50)
    assert {g.name for g in svc.list_groups(ctx)} == {"fire", "ems"}


def test_export_reimports_unchanged(ctx: AppContext, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name,phone,email,language,groups,lat,lon,apprise,geocodes,opted_out\n"
        "Ana,2025550143,ana@example.org,es,fire;ems,38.58,-121.49,,SAME=006067,\n"
        "Bo,,bo@example.org,en,residents,,,mailto:bo@example.org json://hooks.example/x,,yes\n",
    )
    svc.import_contacts(ctx, path)
    exported = write(tmp_path, svc.export_csv(svc.list_contacts(ctx)), "export.csv")
    report = svc.import_contacts(ctx, exported)
    assert (report.added, report.updated, report.unchanged, report.rejected) == (0, 0, 2, [])


def test_group_membership_and_opt_out(ctx: AppContext, tmp_path: Path) -> None:
    svc.import_contacts(ctx, write(tmp_path, HEADER + "Ana,2025550143,ana@example.org,es,,,,\n"))
    svc.create_group(ctx, "schools")
    with pytest.raises(svc.ContactsError, match="already exists"):
        svc.create_group(ctx, "schools")
    assert svc.change_membership(ctx, "schools", ["(202) 555-0143"], add=True) == 1
    assert svc.change_membership(ctx, "schools", ["ana@example.org"], add=True) == 0
    assert [c.name for c in svc.list_contacts(ctx, group="schools")] == ["Ana"]
    with pytest.raises(svc.ContactsError, match="no contact"):
        svc.change_membership(ctx, "schools", ["2025550000"], add=True)
    with pytest.raises(svc.ContactsError, match="no group named 'nope'"):
        svc.list_contacts(ctx, group="nope")
    assert svc.set_opt_out(ctx, ["+12025550143"], True) == 1
    assert svc.list_contacts(ctx)[0].opted_out
    assert svc.change_membership(ctx, "schools", ["ana@example.org"], add=False) == 1
    assert svc.delete_group(ctx, "schools") == 0
    assert [c.name for c in svc.list_contacts(ctx)] == ["Ana"]

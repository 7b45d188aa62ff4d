"""The CLI as a user types it: exit codes, --json, and clear one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from alertcast.cli.root import cli


def run(db_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_import_reports_bad_rows_and_exits_1(db_url: str, tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text("name,phone,groups\nAna,2025550143,fire\nBad,12,fire\n")
    code, out, err = run(db_url, "contacts", "import", str(book))
    assert code == 1
    assert "1 added" in out and "1 rejected" in out
    assert f"{book}: line 3: phone:" in err
    code, out, _ = run(db_url, "contacts", "import", str(book), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["unchanged"] == 1 and report["rejected_rows"] == 1
    assert report["rejected"][0]["where"] == "line 3"


def test_import_of_a_clean_file_exits_0_and_lists(db_url: str, tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text("name,phone,email\nAna,2025550143,\nBo,,bo@example.org\n")
    assert run(db_url, "contacts", "import", str(book), "--group", "staff")[0] == 0
    code, out, _ = run(db_url, "contacts", "list", "--group", "staff", "--json")
    assert code == 0 and [c["name"] for c in json.loads(out)] == ["Ana", "Bo"]
    code, out, _ = run(db_url, "contacts", "export")
    assert code == 0 and out.splitlines()[0].startswith("name,phone,email")
    code, out, _ = run(db_url, "groups", "list", "--json")
    assert json.loads(out) == [{"name": "staff", "description": "", "members": 2}]


def test_errors_are_one_line_with_exit_codes(db_url: str, tmp_path: Path) -> None:
    code, _, err = run(db_url, "contacts", "import", str(tmp_path / "missing.csv"))
    assert code == 1 and err.startswith("alertcast: error:") and "no such file" in err
    code, _, err = run(db_url, "groups", "add", "nope", "2025550143")
    assert code == 1 and "no group named 'nope'" in err
    code, _, err = run(db_url, "contacts", "import", "x.csv", "--region", "USA")
    assert code == 2
    code, _, err = run("notadb://x", "groups", "list")
    assert code == 3 and "alertcast: error:" in err


def test_group_commands(db_url: str) -> None:
    assert run(db_url, "groups", "create", "schools", "--description", "head teachers")[0] == 0
    code, _, err = run(db_url, "groups", "create", "schools")
    assert code == 1 and "already exists" in err
    code, out, _ = run(db_url, "groups", "delete", "schools")
    assert code == 0 and "deleted" in out

"""The layer rules and lint are checked on every run, so CI enforces them from the first commit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def test_import_linter_contracts_hold() -> None:
    result = _run(str(Path(sys.executable).with_name("lint-imports")), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def test_ruff_lint_is_clean() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", "alertcast", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = _run(sys.executable, "-m", "ruff", "format", "--check", "alertcast", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_headless_commands_never_import_textual() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from alertcast.cli.root import cli;"
        "r = CliRunner().invoke(cli, ['--db', 'sqlite://', 'groups', 'list']); assert r.exit_code == 0, r.output;"
        "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0;"
        "print('textual' in sys.modules)"
    )
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"

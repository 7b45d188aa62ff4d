"""Configuration lookup order, typed values and secret references."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertcast.config import ConfigError, load_config, parse_secret


def test_defaults_without_any_file(tmp_path: Path) -> None:
    config = load_config(environ={"ALERTCAST_CONFIG": ""} | {"XDG_CONFIG_HOME": str(tmp_path)})
    assert config.db_url.startswith("sqlite:///") and config.db_url.endswith("alertcast.db")
    assert config.contacts.default_region == "US"


def test_file_then_env_then_flag_for_the_database(tmp_path: Path) -> None:
    path = tmp_path / "alertcast.toml"
    path.write_text(
        'operator = "duty officer"\n[store]\nurl = "sqlite:///from-file.db"\n[contacts]\ndefault_region = "gb"\n'
    )
    config = load_config(path, environ={})
    assert (config.db_url, config.operator, config.contacts.default_region) == (
        "sqlite:///from-file.db",
        "duty officer",
        "GB",
    )
    assert load_config(path, environ={"ALERTCAST_DB": "sqlite:///env.db"}).db_url == "sqlite:///env.db"
    assert (
        load_config(path, db_url="sqlite:///flag.db", environ={"ALERTCAST_DB": "x"}).db_url
        == "sqlite:///flag.db"
    )
    assert load_config(environ={"ALERTCAST_CONFIG": str(path)}).operator == "duty officer"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[store\nurl=1", "alertcast.toml"),
        ("[store]\nurl = 5\n", "store.url: expected str"),
        ('[contacts]\ndefault_region = "USA"\n', "two-letter region"),
        ("[contacts]\nemergency_reaches_opted_out = 1\n", "expected bool"),
    ],
)
def test_bad_values_name_the_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "alertcast.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_config(path, environ={})


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", environ={})


def test_secrets_resolve_late_and_never_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = parse_secret({"env": "SMPP_PASSWORD"}, "routes.smpp.password")
    assert "SMPP_PASSWORD" in repr(secret)
    with pytest.raises(ConfigError, match="SMPP_PASSWORD is not set"):
        secret.resolve()
    monkeypatch.setenv("SMPP_PASSWORD", "s3cret")
    assert secret.resolve() == "s3cret" and "s3cret" not in repr(secret)
    file = tmp_path / "pin"
    file.write_text("1234\n")
    assert parse_secret({"file": str(file)}, "x").resolve() == "1234"
    with pytest.raises(ConfigError, match="expected"):
        parse_secret({"env": "A", "file": "B"}, "modems.pin")

"""Configuration: one TOML file, found the same way by the CLI, the console and the relay.

Lookup order: ``--config PATH``, then ``ALERTCAST_CONFIG``, then ``alertcast.toml`` in the platform's config
folder; no file at all is fine (embedded defaults: SQLite in the platform data folder). The database URL
can be overridden by ``--db`` / ``ALERTCAST_DB`` so a one-off command can point at another store.

Secrets never live in the file itself: a value written as ``{ env = "NAME" }`` or ``{ file = "PATH" }``
is read from the environment or a file when needed, so the file can be shared and logged safely.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "alertcast"


class ConfigError(ValueError):
    """The configuration file is missing, unreadable, or has a wrong value; the message names the key."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A reference to a secret, resolved only when used so it never sits in a repr or a log."""

    env: str | None = None
    file: str | None = None
    literal: str | None = None

    def resolve(self) -> str:
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"secret: environment variable {self.env} is not set")
            return value
        if self.file is not None:
            try:
                return Path(self.file).expanduser().read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"secret: cannot read {self.file}: {exc.strerror}") from exc
        return self.literal or ""

    def __repr__(self) -> str:
        where = f"env={self.env}" if self.env else f"file={self.file}" if self.file else "literal"
        return f"Secret({where})"


@dataclass(frozen=True, slots=True)
class ContactsConfig:
    default_region: str = "US"
    """Region used to read numbers written without a country code (ISO 3166 alpha-2)."""
    emergency_reaches_opted_out: bool = True
    """Whether the most urgent broadcasts still go to contacts who opted out (safety over preference)."""


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration. Sections not typed yet are kept raw in ``sections``."""

    path: Path | None = None
    db_url: str = ""
    operator: str = "operator"
    contacts: ContactsConfig = field(default_factory=ContactsConfig)
    sections: Mapping[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> Mapping[str, Any]:
        """A raw section by name (``{}`` when absent), for the parts that type their own settings."""
        value = self.sections.get(name, {})
        if not isinstance(value, Mapping):
            raise ConfigError(f"{self.path}: [{name}] must be a table")
        return value


def default_db_url() -> str:
    """SQLite in the platform's data folder: the embedded default that needs no set-up."""
    folder = Path(platformdirs.user_data_dir(APP_NAME))
    return f"sqlite:///{folder / 'alertcast.db'}"


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "alertcast.toml"


def parse_secret(value: object, where: str) -> Secret:
    """Read a secret reference: ``{env = "X"}``, ``{file = "path"}``, or (discouraged) a plain string."""
    if isinstance(value, str):
        return Secret(literal=value)
    if isinstance(value, Mapping) and set(value) <= {"env", "file"} and len(value) == 1:
        return Secret(env=value.get("env"), file=value.get("file"))
    raise ConfigError(f'{where}: expected {{ env = "NAME" }} or {{ file = "PATH" }}')


def _typed(raw: Mapping[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = raw.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
    return value


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    db_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Load the configuration from the first place that has one; see the module docstring for the order."""
    env = os.environ if environ is None else environ
    explicit = path if path is not None else env.get("ALERTCAST_CONFIG") or None
    file = Path(explicit).expanduser() if explicit else default_config_path()
    raw: dict[str, Any] = {}
    if explicit and not file.is_file():
        raise ConfigError(f"configuration file not found: {file}")
    if file.is_file():
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: cannot read: {exc}") from exc
    store = raw.get("store", {})
    contacts = raw.get("contacts", {})
    where = str(file)
    url = (
        db_url
        or env.get("ALERTCAST_DB")
        or _typed(store, "url", str, "", f"{where}: store")
        or default_db_url()
    )
    region = _typed(contacts, "default_region", str, "US", f"{where}: contacts").upper()
    if len(region) != 2:
        raise ConfigError(f"{where}: contacts.default_region: expected a two-letter region, got {region!r}")
    return Config(
        path=file if file.is_file() else None,
        db_url=url,
        operator=_typed(raw, "operator", str, env.get("USER", "operator"), where),
        contacts=ContactsConfig(
            default_region=region,
            emergency_reaches_opted_out=_typed(
                contacts, "emergency_reaches_opted_out", bool, True, f"{where}: contacts"
            ),
        ),
        sections=raw,
    )

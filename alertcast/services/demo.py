"""The demo: a throw-away store filled with the sample address book, on embedded defaults only.

It must work on a fresh machine with nothing configured, so it never reads the user's configuration or
database: everything lives in a temporary folder that is removed afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import alertcast
from alertcast.config import Config
from alertcast.services.contacts import ImportReport, import_contacts
from alertcast.services.context import AppContext
from alertcast.store.db import create_db_engine

PROJECT_ROOT = Path(alertcast.__file__).resolve().parents[1]
SAMPLE_CONTACTS = PROJECT_ROOT / "contacts" / "sample-contacts.csv"


class DemoError(RuntimeError):
    """The demo's sample data cannot be found (e.g. the package was installed without the repository)."""


@dataclass
class DemoSetup:
    ctx: AppContext
    imports: list[ImportReport] = field(default_factory=list)


def prepare_demo(workdir: Path) -> DemoSetup:
    """Open a fresh SQLite store in ``workdir`` and import the sample contacts into it."""
    if not SAMPLE_CONTACTS.is_file():
        raise DemoError(
            f"sample contacts not found at {SAMPLE_CONTACTS}; run the demo from a clone of the repository"
        )
    config = Config(db_url=f"sqlite:///{workdir / 'demo.db'}", operator="demo")
    ctx = AppContext(config=config, engine=create_db_engine(config.db_url))
    setup = DemoSetup(ctx)
    setup.imports.append(import_contacts(ctx, SAMPLE_CONTACTS))
    return setup

"""What every use case needs: the configuration and an open store.

The CLI and the console each build one ``AppContext`` and pass it to the services, so both shells behave
identically and neither touches the database itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from alertcast.config import Config, ConfigError, load_config
from alertcast.store.db import StoreError, create_db_engine, safe_url

SETUP_ERRORS: tuple[type[Exception], ...] = (ConfigError, StoreError)
"""What opening a context can raise: the configuration or the store cannot be used as given."""


@dataclass
class AppContext:
    config: Config
    engine: Engine

    @property
    def db_label(self) -> str:
        """The database URL with any password masked: safe to show and to log."""
        return safe_url(self.config.db_url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error, so a failure stores nothing."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def close(self) -> None:
        self.engine.dispose()


def open_context(config_path: str | os.PathLike[str] | None = None, db_url: str | None = None) -> AppContext:
    """Load configuration and open (migrating if needed) the store it names."""
    config = load_config(config_path, db_url=db_url)
    return AppContext(config=config, engine=create_db_engine(config.db_url))

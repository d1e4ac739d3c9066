"""Alembic environment: the schema of referral_app.models, on the database the settings point at."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlmodel import SQLModel

import referral_app.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from referral_app.core.config import get_settings
from referral_app.core.db import create_db_engine

config = context.config
# Configure logging only when run from the alembic CLI; the app keeps its own logging setup.
if config.config_file_name is not None and not config.attributes.get("database_url"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _url() -> str:
    return config.attributes.get("database_url") or get_settings().database_url


def _options(url: str) -> dict:
    # SQLite can only ALTER tables by copying them; batch mode does that for us.
    return {"target_metadata": target_metadata, "compare_type": True, "render_as_batch": url.startswith("sqlite")}


def run_migrations_offline() -> None:
    url = _url()
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **_options(url))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = _url()
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **_options(url))
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, **_options(url))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

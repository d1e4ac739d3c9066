"""The library internals docs/internals.md lists, checked against the installed libraries: an upgrade that moves
or renames one fails here, by name, before anything subtler breaks."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import sqlalchemy as sa
from reflex.utils import exec as reflex_exec
from reflex_base.environment import environment

from referral_app.serve import SERVE_ENV

PINNED = {"reflex": "0.10.1", "SQLAlchemy": "2.1.9"}
INTERNALS_DOC = Path(__file__).resolve().parents[1] / "docs" / "internals.md"


@pytest.mark.parametrize(("package", "version"), PINNED.items())
def test_the_library_is_the_version_the_internals_were_read_from(package: str, version: str) -> None:
    installed = importlib.metadata.version(package)
    assert installed == version, (
        f"{package} is {installed}, docs/internals.md was written against {version}: re-check the internals it "
        "lists for this library, then update the table and this pin"
    )
    assert f"{package} {version}".lower() in INTERNALS_DOC.read_text().lower()


def test_reflex_still_reads_the_serve_environment() -> None:
    for name in SERVE_ENV:
        if name.startswith("__"):
            assert hasattr(environment, name.removeprefix("__")), name
    assert callable(reflex_exec.run_granian_backend_prod)


def test_sqlalchemy_keeps_what_prepared_reads_use() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        assert hasattr(connection.dispatch, "before_cursor_execute")
        assert hasattr(connection.dispatch, "after_cursor_execute")
    compiled = sa.select(sa.literal_column("1")).where(sa.bindparam("x") == 1).compile(dialect=engine.dialect)
    assert isinstance(compiled.bind_names, dict) and compiled.positiontup == ["x", "param_1"]
    assert callable(sa.exc.DBAPIError.instance)


def test_reflex_vars_still_carry_their_var_data_and_shared_states_link() -> None:
    import reflex as rx

    from referral_app.web.state.news import ReferralNews

    data = ReferralNews.news_id._get_all_var_data()  # type: ignore[attr-defined]
    assert data is not None and data.hooks, "a state var no longer brings its state's context hook"
    assert callable(ReferralNews._link_to) and callable(rx.EventChain.create)

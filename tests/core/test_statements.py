"""InsertUnlessPresent: a row already there is left as it is, and the caller's read or write carries on."""

from __future__ import annotations

from typing import cast

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from referral_app.core.config import Settings
from referral_app.core.db import InsertUnlessPresent, transaction
from referral_app.models import ServerSecret

_INSERT = InsertUnlessPresent(cast("sa.Table", sa.inspect(ServerSecret).local_table))
_RETURNING = InsertUnlessPresent(
    cast("sa.Table", sa.inspect(ServerSecret).local_table), sa.inspect(ServerSecret).local_table.c.name
)


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_a_row_another_session_stored_is_kept(
    settings: Settings, engine: Engine, session: Session, write: bool
) -> None:
    with Session(engine) as other, transaction(other, write=True):
        other.add(ServerSecret(name="k", value="theirs"))
    with transaction(session, write=write):
        _INSERT.execute(session, {"name": "k", "value": "mine"})
        assert _RETURNING.execute(session, {"name": "k", "value": "mine"}).all() == []  # nothing inserted
        _INSERT.execute(session, {"name": "new", "value": "mine"})
        assert session.get(ServerSecret, "k").value == "theirs"  # the transaction goes on after the conflict
    with transaction(session):
        assert {row.name: row.value for row in session.exec(select(ServerSecret))} == {
            "k": "theirs",
            "new": "mine",
        }

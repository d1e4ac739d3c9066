"""Statements both databases spell differently, built once per dialect."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


class InsertUnlessPresent:
    """`INSERT ... ON CONFLICT DO NOTHING`: a row another transaction inserted first is left as it is, with no
    error that would abort the caller's transaction and no savepoint (which an autocommit read has not got)."""

    def __init__(self, table: sa.Table, *returning: sa.ColumnElement[Any]) -> None:
        self._by_dialect = {
            name: dialect.insert(table).on_conflict_do_nothing().returning(*returning)
            if returning
            else dialect.insert(table).on_conflict_do_nothing()
            for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
        }

    def execute(self, session: Session, params: dict[str, Any]) -> sa.Result[Any]:
        return session.execute(self._by_dialect[session.get_bind().dialect.name], params)

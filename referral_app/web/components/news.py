"""The profile page's ear for live news (see web/state/news.py)."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex_base.event import EventChain
from reflex_base.utils.imports import ImportVar
from reflex_base.vars.base import LiteralVar, Var, VarData

from referral_app.web.state.news import ReferralNews
from referral_app.web.state.profile import ProfileState


class NewsListener(rx.Fragment):  # type: ignore[misc]  # Reflex's components are untyped for mypy
    """Renders nothing; sends ProfileState.news_arrived whenever ReferralNews.news_id changes (and once when the
    page first has one: the handler tells news from what the tab has seen)."""

    def add_hooks(self) -> list[str | Var[Any]]:
        news_id = cast("Var[str]", ReferralNews.news_id)  # a Var on the class, typed as its value
        call = LiteralVar.create(EventChain.create(ProfileState.news_arrived, args_spec=lambda: [], key="on_news"))
        react = VarData(imports={"react": [ImportVar(tag="useEffect")]})
        hook = f"useEffect(() => {{ if ({news_id}) {{ ({call})(); }} }}, [{news_id}]);"
        data = VarData.merge(news_id._get_all_var_data(), call._get_all_var_data(), react)
        return [Var(_js_expr=hook, _var_data=data)]

"""The profile page's ear for live news (see web/state/news.py)."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx

from referral_app.web.state.news import ReferralNews
from referral_app.web.state.profile import ProfileState


class NewsListener(rx.Fragment):  # type: ignore[misc]  # Reflex's components are untyped for mypy
    """Renders nothing; sends ProfileState.news_arrived whenever ReferralNews.news_id changes (and once when the
    page first has one: the handler tells news from what the tab has seen). A hook as Reflex's "Custom Code and
    Hooks" documents it: an `rx.Var` whose VarData brings the imports and the state var it reads."""

    def add_hooks(self) -> list[str | rx.Var[Any]]:
        news_id = cast("rx.Var[str]", ReferralNews.news_id)  # a Var on the class, typed as its value
        call = rx.vars.LiteralVar.create(rx.EventChain.create(ProfileState.news_arrived, args_spec=lambda: []))
        react = rx.vars.VarData(imports={"react": [rx.ImportVar(tag="useEffect")]})
        hook = f"useEffect(() => {{ if ({news_id}) {{ ({call})(); }} }}, [{news_id}]);"
        data = rx.vars.VarData.merge(news_id._get_all_var_data(), call._get_all_var_data(), react)
        return [rx.Var(hook, _var_data=data)]

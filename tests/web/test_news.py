"""Live news, the parts that need no browser: the shared token of a user's news, the page's listener as Reflex
compiles it (a change of Reflex's hooks or event chains shows here first), and announcing where no web app runs.
Two browsers across two worker processes: tests/resilience/test_live_news.py."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import Session

import referral_app.referral_app  # noqa: F401  (the app module, loaded as in the server)
from referral_app.core.config import Settings
from referral_app.core.db import transaction
from referral_app.services import users
from referral_app.web.components.news import NewsListener
from referral_app.web.state.news import (
    NEWS_PREFIX,
    ReferralNews,
    announce_referral,
    news_token,
    quiet_news_token_warnings,
)
from referral_app.web.state.profile import ProfileState
from tests.helpers import PRODUCTION_SECRET_KEY, configure


def test_a_users_news_token_is_theirs_alone_and_unguessable(settings: Settings) -> None:
    configure(settings, secret_key=PRODUCTION_SECRET_KEY)
    token = news_token(7)
    assert token == news_token(7) and token != news_token(8)
    assert token.startswith("news-") and "_" not in token and len(token) == len("news-") + 32
    configure(settings, secret_key=PRODUCTION_SECRET_KEY[::-1])
    assert news_token(7) != token  # derived from the server key


def test_the_listener_sends_news_arrived_when_the_news_id_changes() -> None:
    hooks = "\n".join(str(hook) for hook in NewsListener.create()._get_all_hooks())
    news_var = f"{ReferralNews.get_full_name()}.news_id"
    assert "useEffect" in hooks
    assert f'"{ProfileState.get_full_name()}.news_arrived"' in hooks
    assert news_var.replace(".", "__") in hooks.replace(".", "__")


async def test_announcing_without_a_serving_web_app_does_nothing(
    settings: Settings, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    with transaction(session, write=True):
        user, _ = users.get_or_create_user(session, phone="+79123456789")
    assert user.id is not None
    await announce_referral(user.id)  # the app module is loaded here, but serves nothing: nobody to tell
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_only_reflexs_warning_about_the_news_token_itself_is_dropped() -> None:
    quiet_news_token_warnings()
    reflex_app = logging.getLogger("reflex.app")

    def kept(message: str) -> bool:
        return reflex_app.filter(logging.LogRecord("reflex.app", logging.WARNING, "", 0, message, None, None))

    assert not kept(f"Attempting to send delta to disconnected client '{NEWS_PREFIX}0123abcd'")
    assert kept("Attempting to send delta to disconnected client 'e0c6a3f4-tab-token'")
    assert kept("anything else")

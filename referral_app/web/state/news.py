"""Live news for an inviter: when someone activates my code, every open profile tab of mine shows it at once, in
whichever server process serves it.

Reflex's shared state does the pushing: every profile tab of a user links its `ReferralNews` to one token of that
user's (`news_token`), and an activation changes the state of that token (`announce_referral`, through
`app.modify_state`); Reflex then updates every linked tab, relaying through Redis to the tabs another process
serves. The shared state carries only an opaque news id: each tab, seeing it change (components/news.py), asks its own
state for the news (ProfileState.news_arrived), which reads the referrals again for the tab's signed-in user. So a
tab that signed out, or a client that got hold of the token, learns nothing from it."""

from __future__ import annotations

import hashlib
import hmac
import logging
import sys
import uuid

import reflex as rx

from referral_app.core.config import get_settings
from referral_app.services import referrals, server_keys
from referral_app.services.bridge import run_reads

log = logging.getLogger(__name__)

APP_MODULE = "referral_app.referral_app"
NEWS_PREFIX = "news-"


class ReferralNews(rx.SharedState):
    news_id: str = ""  # a new random value for every activation of the linked user's code


def news_token(user_id: int) -> str:
    """The shared token of a user's news: derived from the server key, so no client can name it (Reflex tokens
    are chosen by the browser) and it holds no underscore (Reflex's separator)."""
    key = server_keys.loaded_code_hmac_key(get_settings()).encode()
    return NEWS_PREFIX + hmac.new(key, f"referral-news:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]


_NO_TAB_WARNING = f"Attempting to send delta to disconnected client '{NEWS_PREFIX}"  # reflex/app.py emit_update


class _NoTabOfSharedToken(logging.Filter):
    """app.modify_state on the shared token also sends its change to a tab of that name, and Reflex warns that no
    tab has it; every linked tab is updated all the same. The warning would come with every activation."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(_NO_TAB_WARNING)


def quiet_news_token_warnings() -> None:
    logging.getLogger("reflex.app").addFilter(_NoTabOfSharedToken())


async def announce_referral(invitee_id: int) -> None:
    """After `invitee_id` activated a code: tell every open tab of the code's owner. Never fails the caller (the
    activation is done); without the web app in this process (the API alone, in tests) there is nobody to tell."""
    app_module = sys.modules.get(APP_MODULE)
    if app_module is None or app_module.app.event_namespace is None:  # not serving the web app
        return
    try:
        owner = await run_reads(referrals.referrer_of, user_id=invitee_id)
        if owner is None:
            return
        async with app_module.app.modify_state(
            rx.BaseStateToken(ident=news_token(owner), cls=ReferralNews)
        ) as root:
            news = await root.get_state(ReferralNews)
            news.news_id = uuid.uuid4().hex
    except Exception:
        log.exception("announcing a referral to the inviter's tabs failed")

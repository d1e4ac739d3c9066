"""The web app's states called directly, handler by handler, without a server or a browser (Reflex lets a
state tree be built under pytest): storage and reset bugs show here in seconds."""

from __future__ import annotations

from typing import Any

import pytest
from reflex.state import State
from sqlmodel import Session, select

from referral_app.core.config import Settings
from referral_app.models import AuditEvent
from referral_app.services import auth, login_codes
from referral_app.web.events import CLIENT_STORAGE_KEYS, client_storage_vars
from referral_app.web.state.account import AccountState
from referral_app.web.state.app import CLIENT_STORAGE_CHECKS, AppState
from referral_app.web.state.login import CODE_STEP, LoginState
from referral_app.web.state.profile import ProfileState

PHONE = "+79123456789"


def tree() -> State:
    return State()


def substate(root: State, cls: type[AppState]) -> Any:
    return root.get_substate(cls.get_full_name().split(".")[1:])


async def drain(result: Any) -> list[Any]:
    """Run a handler's body: a coroutine, an async generator, or a plain value."""
    if hasattr(result, "__anext__"):
        return [item async for item in result]
    if hasattr(result, "__await__"):
        return [await result]
    return [result]


def test_every_client_storage_var_is_checked_and_passes_the_websocket() -> None:
    found = client_storage_vars()
    assert set(found.values()) == set(CLIENT_STORAGE_CHECKS), "a client-storage var without a check"
    assert frozenset(found) == CLIENT_STORAGE_KEYS
    assert any(key.endswith(".device_token_rx_state_") for key in CLIENT_STORAGE_KEYS)


def test_client_storage_values_are_checked_whoever_sets_them() -> None:
    app = substate(tree(), AppState)
    app.device_token = "rfd_" + "x" * 200  # longer than a device token can be: ignored
    assert app.device_token == ""
    app.device_token = "rfd_abc.def"
    assert app.device_token == "rfd_abc.def"


async def test_signing_out_forgets_the_user_but_keeps_the_device_cookie(settings: Settings) -> None:
    root = tree()
    app, login, profile = substate(root, AppState), substate(root, LoginState), substate(root, ProfileState)
    app.token, app.device_token, app.lang = "rfa_token", "rfd_device.mac", "en"
    login.step, login.normalized_phone = CODE_STEP, PHONE
    profile.name, profile.phone = "Anna", PHONE
    await app._forget_user()
    assert (app.token, app.device_token, app.lang) == ("", "rfd_device.mac", "en")
    assert (login.step, login.normalized_phone, profile.name, profile.phone) == ("phone", "", "", "")


async def test_an_empty_invite_field_sends_nothing(settings: Settings, session: Session) -> None:
    code = login_codes.issue_code(session, phone=PHONE, client_ip=None)
    signed_in = auth.login_with_code(session, phone=PHONE, code=code)
    root = tree()
    profile = substate(root, ProfileState)
    profile.token = signed_in.access_token
    for field in ("", "  ", "-"):
        await drain(ProfileState.activate_invite.fn(profile, {"invite_code": field}))
        assert profile.invite_error == {}
    rejected = session.exec(select(AuditEvent).where(AuditEvent.event == "invite_rejected")).all()
    assert rejected == []  # nothing reached the service


@pytest.mark.parametrize("state", [AccountState, LoginState, ProfileState])
def test_page_states_live_under_app_state(state: type[AppState]) -> None:
    assert state.get_parent_state() is AppState

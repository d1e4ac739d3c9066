"""The web app's states called directly, handler by handler, without a server or a browser (Reflex lets a
state tree be built under pytest): storage and reset bugs show here in seconds."""

from __future__ import annotations

from typing import Any

import pytest
import reflex as rx
from reflex.state import State
from sqlmodel import Session, select

from referral_app.core.config import Settings
from referral_app.models import AuditEvent
from referral_app.services import auth, login_codes, users
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


def shown(events: Any) -> list[str]:
    """What each event does and with what (EventSpecs do not compare by value)."""
    return [f"{event.handler.fn.__name__}{event.args}" for event in events]


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


def test_the_code_field_keeps_digits_and_checks_itself_when_full() -> None:
    login = substate(tree(), LoginState)
    login.step, login.code_length = CODE_STEP, 4
    assert shown(LoginState.set_code.fn(login, "1a2")) == shown([rx.set_value("code-input", "12")])  # digits only
    assert login.code == "12"
    events = LoginState.set_code.fn(login, "1234")
    assert login.code == "1234" and LoginState.verify in events  # the last digit sends it
    assert LoginState.set_code.fn(login, "x" * 100) is None and login.code == "1234"  # oversized: ignored


def test_changing_the_number_forgets_the_code_step() -> None:
    login = substate(tree(), LoginState)
    login.step, login.code, login.normalized_phone, login.demo_code = CODE_STEP, "12", PHONE, "1234"
    LoginState.change_number.fn(login)
    assert (login.step, login.code, login.normalized_phone, login.demo_code) == ("phone", "", "", "")


def test_the_profile_copies_only_its_own_link_and_code() -> None:
    profile = substate(tree(), ProfileState)
    profile.invite_code = "7K3M9Q"
    assert ProfileState.copy.fn(profile, "https://evil.example/") is None
    assert ProfileState.copy.fn(profile, "") is None
    copied = ProfileState.copy.fn(profile, "7K3M9Q")
    assert copied is not None and shown(copied[:1]) == shown([rx.set_clipboard("7K3M9Q")])


async def test_saving_a_bad_email_shows_the_services_error_and_saves_nothing(
    settings: Settings, session: Session
) -> None:
    code = login_codes.issue_code(session, phone=PHONE, client_ip=None)
    signed_in = auth.login_with_code(session, phone=PHONE, code=code)
    profile = substate(tree(), ProfileState)
    profile.token = signed_in.access_token
    await drain(ProfileState.save_details.fn(profile, {"name": "Anna", "email": "not an address"}))
    assert profile.details_error["code"] == "invalid_email" and profile.saving is False
    assert profile.details_error_text  # translated when shown
    assert users.get_profile(session, user_id=signed_in.user_id).name is None

"""Which events a client may send: every handler Reflex registers is listed here as client-callable or
server-only, so a new public method on a state (which Reflex makes an event) fails this test until someone
decides which it is, and only the client-callable ones pass the websocket's gate (referral_app/web/events.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import PydanticSchemaGenerationError
from reflex.state import BaseState, State, UpdateVarsInternalState
from reflex_base.event import EventHandler
from reflex_base.utils.format import format_event_handler

import referral_app.referral_app  # noqa: F401  (registers every state, as the server does)
from referral_app.limits import EVENT_MESSAGE_MAX_BYTES
from referral_app.web.events import CLIENT_EVENTS, CLIENT_STORAGE_KEYS, Arguments, admit, bounded_receive
from referral_app.web.state.app import AppState
from referral_app.web.state.login import LoginState
from referral_app.web.state.profile import ProfileState

# What the browser sends: Reflex's connect, navigation, storage sync and error report, and what our pages bind.
CLIENT_CALLABLE = {
    "State.hydrate_and_load",
    "OnLoadInternalState.on_load_internal",
    "UpdateVarsInternalState.update_vars_internal",
    "FrontendEventExceptionState.handle_frontend_exception",
    "AppState.set_language",
    "LoginState.set_region",
    "LoginState.set_phone",
    "LoginState.send_code",
    "LoginState.set_code",
    "LoginState.verify",
    "LoginState.change_number",
    "ProfileState.set_invite_input",
    "ProfileState.activate_invite",
    "ProfileState.change_page",
    "ProfileState.set_name",
    "ProfileState.set_email",
    "ProfileState.save_details",
    "ProfileState.copy",
    "ProfileState.news_arrived",  # the profile page's live-news listener
    "ProfileState.logout",
    "AccountState.sign_out_device",
    "AccountState.sign_out_others",
    "AccountState.download_data",
    "AccountState.start_delete",
    "AccountState.cancel_delete",
    "AccountState.send_delete_code",
    "AccountState.confirm_delete",
    "AdminState.search",
    "AdminState.set_sort",
    "AdminState.change_users_page",
    "AdminState.change_referrals_page",
    "AdminState.change_events_page",
    "AdminState.filter_events",
    "AdminState.export_events",
    "AdminState.set_period",
    "AdminState.show_tree",
    "AdminState.change_locked_page",
    "AdminState.filter_sms",
    "AdminState.change_sms_page",
    "AdminState.start_action",
    "AdminState.cancel_action",
    "AdminState.confirm_action",
    "AdminState.send_reauth_code",
    "AdminState.confirm_reauth",
}
# Registered, but only the server chains them (or nobody should call them): refused from a client.
STATES = {
    "State",
    "AppState",
    "LoginState",
    "ProfileState",
    "AccountState",
    "AdminState",
    "FrontendEventExceptionState",
    "OnLoadInternalState",
    "UpdateVarsInternalState",
    "SharedStateBaseInternal",
    "ReferralNews",
}
SERVER_ONLY = {f"{state}.setvar" for state in STATES} | {
    "State.hydrate",
    "State.set_is_hydrated",
    "OnLoadInternalState.set_is_hydrated",
    "AppState.show_error",  # the backend exception handler's
    "LoginState.on_load",  # page loads run through on_load_internal
    "ProfileState.on_load",
    "AccountState.on_load",  # chained by the profile page's on_load
    "LoginState.run_countdown",  # chained by send_code and on_load
    # The console's page loads, the profile page's Admin link check, the overview's live ticker.
    "AdminState.check_operator",
    "AdminState.load_overview",
    "AdminState.load_users",
    "AdminState.load_user",
    "AdminState.load_security",
    "AdminState.load_referrals",
    "AdminState.load_sms",
    "AdminState.run_overview",
}


def _states(state: type[BaseState] = State) -> Iterator[type[BaseState]]:
    yield state
    for substate in state.get_substates():
        yield from _states(substate)


def _registered() -> dict[str, str]:
    """Class.handler -> the full event name, for every handler of every state."""
    return {
        f"{state.__name__}.{name}": format_event_handler(handler)
        for state in _states()
        for name, handler in state.event_handlers.items()
    }


def test_every_registered_handler_is_declared_client_callable_or_server_only() -> None:
    registered = set(_registered())
    assert registered - CLIENT_CALLABLE - SERVER_ONLY == set(), "new handlers: client-callable or server-only?"
    assert (CLIENT_CALLABLE | SERVER_ONLY) - registered == set(), "listed handlers that no longer exist"


def test_the_gate_admits_exactly_the_client_callable_handlers() -> None:
    admitted = {short for short, name in _registered().items() if name in CLIENT_EVENTS}
    assert admitted == CLIENT_CALLABLE
    for short, name in _registered().items():
        if short in SERVER_ONLY:
            assert admit({"name": name, "payload": {}}) is None, short


def _event(handler: Any, **payload: object) -> dict[str, Any]:
    return {"name": format_event_handler(handler), "payload": payload, "router_data": {"pathname": "/"}}


def _admitted(data: object) -> dict[str, Any]:
    event = admit(data)
    assert event is not None
    return event


@pytest.mark.parametrize(
    "data",
    [
        None,
        "a string",
        ["a", "list"],
        {"name": 7},
        {"name": "no.such.event"},
        _event(LoginState.set_phone),  # a required argument missing
        _event(LoginState.set_phone, phone="1", extra="2"),  # an argument the handler does not take
        {**_event(LoginState.set_phone, phone="1"), "payload": "not a dict"},
        _event(State.setvar, var_name="is_hydrated", value=True),
        _event(LoginState.setvar, var_name="normalized_phone", value="+79990000000"),
    ],
)
def test_malformed_or_undeclared_events_are_dropped(data: object) -> None:
    assert admit(data) is None


FORGED = "1\n2099-01-01 12:00:00 INFO [referral_app.sms] SMS to +79161112233: 4242"


@pytest.mark.parametrize(
    "data",
    [
        _event(ProfileState.change_page, delta=FORGED),  # Reflex would log the value on failing int()
        _event(ProfileState.change_page, delta="1"),  # even a convertible one: Reflex never converts
        _event(ProfileState.change_page, delta=True),  # JSON's true is no int
        _event(ProfileState.change_page, delta=1.5),
        _event(ProfileState.change_page, delta=None),
        _event(LoginState.set_phone, phone=12345),
        _event(LoginState.set_phone, phone=["+79161234567"]),
        _event(LoginState.send_code, form_data="phone=+79161234567"),
        _event(LoginState.verify, form_data={7: "x"}),  # JSON keys are strings; this is no form
        _event(AppState.set_language, lang=["en", 1]),
        _event(State.hydrate_and_load, vars={}, hashes=[FORGED, 1]),
        _event(UpdateVarsInternalState.update_vars_internal, vars=None),
    ],
)
def test_arguments_not_of_the_annotated_type_are_dropped(data: dict[str, Any]) -> None:
    assert admit(data) is None


@pytest.mark.parametrize(
    "data",
    [
        _event(ProfileState.change_page, delta=-1),
        _event(LoginState.send_code, form_data=None),
        _event(LoginState.send_code, form_data={"phone": "+7 916", "x": [1, {"y": None}]}),
        _event(AppState.set_language, lang="en"),
        _event(AppState.set_language, lang=["en", "ru"]),
        _event(State.hydrate_and_load, vars={}, hashes=["abc"]),
    ],
)
def test_arguments_of_the_annotated_type_pass(data: dict[str, Any]) -> None:
    assert _admitted(data)["payload"] == data["payload"]


class Opaque:
    """A type pydantic has no schema for."""


def _takes_opaque(self: Any, value: Opaque) -> None: ...


def _takes_nested(self: Any, value: dict[str, list[int] | None]) -> None: ...


def test_every_client_argument_is_type_checked() -> None:
    """The checks are built from the annotations at import; an annotation pydantic cannot check fails there."""
    assert {name for arguments in CLIENT_EVENTS.values() for name, _ in arguments.types} >= {"delta", "phone"}
    assert all({name for name, _ in arguments.types} == arguments.names for arguments in CLIENT_EVENTS.values())
    with pytest.raises(PydanticSchemaGenerationError):
        Arguments.of(EventHandler(fn=_takes_opaque))
    nested = Arguments.of(EventHandler(fn=_takes_nested))
    assert nested.fit({"value": {"a": [1, 2], "b": None}})
    assert not nested.fit({"value": {"a": [1, "2"]}}) and not nested.fit({"value": {"a": [True]}})


def test_admitted_events_keep_only_what_reflex_needs() -> None:
    sent = {
        **_event(LoginState.set_phone, phone="+7 912"),
        "router_data": {
            "pathname": "/",
            "asPath": "/?x=1",
            "query": {"x": "1"},
            "origin": "http://evil",
            "x": "y",
        },
        "token": "someone-else's tab",
        "extra": "x" * 1000,
    }
    assert admit(sent) == {
        "name": format_event_handler(LoginState.set_phone),
        "payload": {"phone": "+7 912"},
        "router_data": {"pathname": "/", "asPath": "/?x=1", "query": {"x": "1"}},
    }
    long_route = {**_event(LoginState.set_phone, phone="1"), "router_data": {"pathname": "/" * 5000}}
    assert _admitted(long_route)["router_data"] == {}


def test_client_storage_writes_name_only_our_client_storage_vars() -> None:
    token_key = f"{AppState.get_full_name()}.token_rx_state_"
    assert token_key in CLIENT_STORAGE_KEYS
    login_var = f"{LoginState.get_full_name()}.normalized_phone_rx_state_"
    sent = _event(State.hydrate_and_load, vars={token_key: "rfa_x", login_var: "+79990000000", "x.y": 1})
    assert _admitted(sent)["payload"] == {"vars": {token_key: "rfa_x"}}
    assert admit(_event(State.hydrate_and_load, vars=["not", "a", "dict"])) is None


async def test_an_oversized_websocket_message_ends_the_connection_and_is_not_kept() -> None:
    small, big = "4" + "x" * 100, "4" + "x" * (EVENT_MESSAGE_MAX_BYTES + 1)
    arriving = [
        {"type": "websocket.receive", "text": small},
        {"type": "websocket.receive", "bytes": big.encode()},
        {"type": "websocket.receive", "text": "x" * EVENT_MESSAGE_MAX_BYTES},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return arriving.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    bounded = bounded_receive(receive, send)
    assert await bounded() == {"type": "websocket.receive", "text": small} and sent == []
    # The server is told to close (1009: too big) and engine.io gets a disconnect, nothing of the message.
    assert await bounded() == {"type": "websocket.disconnect", "code": 1009}
    assert sent == [{"type": "websocket.close", "code": 1009}]
    assert await bounded() == {"type": "websocket.receive", "text": "x" * EVENT_MESSAGE_MAX_BYTES}  # at the cap
    assert await bounded() == {"type": "websocket.disconnect", "code": 1000} and len(sent) == 1

"""Only declared events reach the states, in the shape their handlers take.

Reflex makes every public method of every state an event a client may name over the websocket, and gives every
state a generic `setvar(var_name, value)` that sets any of its vars. The browser needs far less: Reflex's own
connect, navigation, client-storage and error events, and the handlers our pages bind. `guard_events` puts a
handler in front of Reflex's socket.io namespace that drops every other message before Reflex parses, logs or
queues it:

- the event must be in CLIENT_HANDLERS (so `setvar`, `show_error`, the page `on_load`s and the countdown ticker,
  which only the server chains, cannot be sent);
- its arguments must be exactly what the handler takes (no unknown names, nothing required missing), each of
  the type the handler annotates (so Reflex never converts a client's value, nor logs it when that fails);
- client-storage writes (`hydrate_and_load`, `update_vars_internal`) may only name our client-storage vars;
- the route it reports is bounded, and nothing else of the message is kept;
- a tab may report at most FRONTEND_ERRORS_PER_TAB frontend exceptions per window.

A websocket message over EVENT_MESSAGE_MAX_BYTES closes the connection, checked before engine.io sees it
(`bounded_receive`, which the app's ASGI edge applies). Events the server chains itself (a handler returning
another) never pass through here."""

from __future__ import annotations

import inspect
import logging
import time
import typing
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, cast

import reflex as rx
from pydantic import TypeAdapter, ValidationError
from reflex.state import (
    BaseState,
    FrontendEventExceptionState,
    OnLoadInternalState,
    State,
    UpdateVarsInternalState,
)
from reflex_base.constants.state import FIELD_MARKER
from reflex_base.event import EventHandler
from reflex_base.utils.format import format_event_handler
from starlette.types import Message, Receive, Send

from referral_app.limits import (
    EVENT_MESSAGE_MAX_BYTES,
    EVENT_PAYLOAD_MAX_KEYS,
    FRONTEND_ERRORS_PER_TAB,
    FRONTEND_ERRORS_TABS_TRACKED,
    FRONTEND_ERRORS_WINDOW_SECONDS,
    ROUTE_MAX_LENGTH,
    ROUTE_QUERY_MAX_KEYS,
)
from referral_app.web.state.account import AccountState
from referral_app.web.state.admin import AdminState
from referral_app.web.state.app import AppState
from referral_app.web.state.login import LoginState
from referral_app.web.state.profile import ProfileState

log = logging.getLogger(__name__)

# Declared as a plain method, which Reflex turns into an EventHandler when it builds the class.
UPDATE_VARS_INTERNAL = cast(EventHandler, UpdateVarsInternalState.update_vars_internal)

# Every event a browser may send. Adding a handler to a page means adding it here (tests/web/test_events.py
# lists every registered handler as either client-callable or server-only, so none is forgotten).
CLIENT_HANDLERS: tuple[EventHandler, ...] = (
    # Reflex: (re)connect, page navigation, a synced localStorage value changed, a frontend exception.
    State.hydrate_and_load,
    OnLoadInternalState.on_load_internal,
    UPDATE_VARS_INTERNAL,
    FrontendEventExceptionState.handle_frontend_exception,
    # Ours, as the pages bind them.
    AppState.set_language,
    LoginState.set_region,
    LoginState.set_phone,
    LoginState.send_code,
    LoginState.set_code,
    LoginState.verify,
    LoginState.change_number,
    ProfileState.set_invite_input,
    ProfileState.activate_invite,
    ProfileState.change_page,
    ProfileState.set_name,
    ProfileState.set_email,
    ProfileState.save_details,
    ProfileState.copy,
    ProfileState.news_arrived,
    ProfileState.logout,
    AccountState.sign_out_device,
    AccountState.sign_out_others,
    AccountState.download_data,
    AccountState.start_delete,
    AccountState.cancel_delete,
    AccountState.send_delete_code,
    AccountState.confirm_delete,
    # The console: each checks the operator on the server first (web/state/admin.py).
    AdminState.search,
    AdminState.set_sort,
    AdminState.change_users_page,
    AdminState.change_referrals_page,
    AdminState.change_events_page,
    AdminState.filter_events,
    AdminState.export_events,
    AdminState.set_period,
    AdminState.show_tree,
    AdminState.change_locked_page,
    AdminState.filter_sms,
    AdminState.change_sms_page,
    AdminState.start_action,
    AdminState.cancel_action,
    AdminState.confirm_action,
    AdminState.send_reauth_code,
    AdminState.confirm_reauth,
)

FRONTEND_EXCEPTION = format_event_handler(FrontendEventExceptionState.handle_frontend_exception)
_STORAGE_EVENTS = {
    format_event_handler(State.hydrate_and_load),
    format_event_handler(UPDATE_VARS_INTERNAL),
}
CLIENT_STORAGE_TYPES = (rx.Cookie, rx.LocalStorage, rx.SessionStorage)


def client_storage_vars(root: type[BaseState] = AppState) -> dict[str, str]:
    """Every client-storage var of `root` and the states under it: the name the browser sends it by
    (`<state full name>.<var>_rx_state_`) -> the var's name, which AppState's CLIENT_STORAGE_CHECKS checks."""
    found: dict[str, str] = {}
    states: list[type[BaseState]] = [root]
    while states:
        state = states.pop()
        states.extend(state.get_substates())
        fields = state.get_fields()
        for name in state.base_vars:  # the vars declared on this state, not inherited from its parent
            field = fields.get(name)
            if field is not None and isinstance(field.default, CLIENT_STORAGE_TYPES):
                found[f"{state.get_full_name()}.{name}{FIELD_MARKER}"] = name
    return found


CLIENT_STORAGE_KEYS = frozenset(client_storage_vars())
HASHES_MAX = 64  # hydrate_and_load's per-state hashes of the compiled initial state (one per state)
HASH_MAX_LENGTH = 64


@dataclass(frozen=True)
class Arguments:
    names: frozenset[str]
    required: frozenset[str]
    types: tuple[tuple[str, TypeAdapter[Any]], ...]  # an annotation pydantic cannot check fails at import

    @classmethod
    def of(cls, handler: EventHandler) -> Arguments:
        parameters = list(inspect.signature(handler.fn).parameters.values())[1:]  # after `self`
        hints = typing.get_type_hints(handler.fn)
        return cls(
            frozenset(p.name for p in parameters),
            frozenset(p.name for p in parameters if p.default is inspect.Parameter.empty),
            tuple((p.name, TypeAdapter(hints[p.name])) for p in parameters),
        )

    def fit(self, payload: dict[str, Any]) -> bool:
        """The payload names what the handler takes, with values of its annotated types: Reflex converts a
        mistyped value itself, and logs the value verbatim when that fails."""
        return (
            len(payload) <= EVENT_PAYLOAD_MAX_KEYS
            and self.required <= payload.keys() <= self.names
            and all(_of_type(adapter, payload[name]) for name, adapter in self.types if name in payload)
        )


def _of_type(adapter: TypeAdapter[Any], value: object) -> bool:
    """Pydantic's strict mode converts nothing: "1" is no int, and neither is JSON's true."""
    try:
        adapter.validate_python(value, strict=True)
    except ValidationError:
        return False
    return True


CLIENT_EVENTS: dict[str, Arguments] = {format_event_handler(h): Arguments.of(h) for h in CLIENT_HANDLERS}


def _text(value: object) -> bool:
    return isinstance(value, str) and len(value) <= ROUTE_MAX_LENGTH


def _route(router_data: object) -> dict[str, Any]:
    """The page the browser says it is on (path and query), bounded; Reflex adds the connection's own data."""
    if not isinstance(router_data, dict):
        return {}
    route = {key: router_data[key] for key in ("pathname", "asPath") if _text(router_data.get(key))}
    query = router_data.get("query")
    if isinstance(query, dict) and len(query) <= ROUTE_QUERY_MAX_KEYS:
        route["query"] = {key: value for key, value in query.items() if _text(key) and _text(value)}
    return route


def _storage_payload(payload: dict[str, Any]) -> dict[str, Any] | None:
    """Client-storage values only for our client-storage vars, as strings (AppState checks each value)."""
    values = payload.get("vars")
    if values is None and "vars" not in payload:
        return payload
    if not isinstance(values, dict):
        return None
    shaped: dict[str, Any] = {
        "vars": {
            key: value for key, value in values.items() if key in CLIENT_STORAGE_KEYS and isinstance(value, str)
        }
    }
    hashes = payload.get("hashes")
    if (
        isinstance(hashes, list)
        and len(hashes) <= HASHES_MAX
        and all(isinstance(h, str) and len(h) <= HASH_MAX_LENGTH for h in hashes)
    ):
        shaped["hashes"] = hashes
    return shaped


def admit(data: object) -> dict[str, Any] | None:
    """The event a browser sent, reduced to what Reflex needs, or None to drop it."""
    if not isinstance(data, dict):
        return None
    name, payload = data.get("name"), data.get("payload", {})
    arguments = CLIENT_EVENTS.get(name) if isinstance(name, str) else None
    if arguments is None or not isinstance(payload, dict) or not arguments.fit(payload):
        return None
    if name in _STORAGE_EVENTS and (payload := _storage_payload(payload)) is None:
        return None
    return {"name": name, "payload": payload, "router_data": _route(data.get("router_data"))}


class Budget:
    """At most `limit` uses per key and window; the `tracked` most recently used keys are remembered."""

    def __init__(self, limit: int, window: float, tracked: int) -> None:
        self.limit, self.window, self.tracked = limit, window, tracked
        self._used: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def spend(self, key: str) -> bool:
        now = time.monotonic()
        start, count = self._used.pop(key, (now, 0))
        if now - start > self.window:
            start, count = now, 0
        self._used[key] = (start, count + 1)
        while len(self._used) > self.tracked:
            self._used.popitem(last=False)
        return count < self.limit


MESSAGE_TOO_BIG = 1009  # the websocket close code (RFC 6455)


def bounded_receive(receive: Receive, send: Send, max_bytes: int = EVENT_MESSAGE_MAX_BYTES) -> Receive:
    """A websocket's ASGI `receive` that closes the connection (1009, message too big) at a message of over
    `max_bytes` characters, before engine.io sees it, and hands engine.io a disconnect instead.

    engine.io checks the size itself, but by raising inside a task whose traceback holds the handler's frame,
    which holds the task: a reference cycle that keeps each refused message (megabytes) alive until the next
    full garbage collection. Here the message is gone once this returns."""

    async def bounded() -> Message:
        message = await receive()
        if (
            message["type"] == "websocket.receive"
            and len(message.get("text") or message.get("bytes") or "") > max_bytes
        ):
            await send({"type": "websocket.close", "code": MESSAGE_TOO_BIG})
            return {"type": "websocket.disconnect", "code": MESSAGE_TOO_BIG}
        return message

    return bounded


def guard_events(app: rx.App) -> None:
    """Admit only what `admit` lets through to Reflex's event namespace, and cap a long-polling message's size.

    socket.io calls a handler registered with its public `on` for an event before the namespace object's
    method of that name, so every "event" message passes here first; the rest of Reflex's namespace (connect,
    disconnect, ping, its tabs and updates) is untouched."""
    namespace, sio = app.event_namespace, app.sio
    assert namespace is not None and sio is not None, "the app has no state, so no websocket"
    frontend_errors = Budget(FRONTEND_ERRORS_PER_TAB, FRONTEND_ERRORS_WINDOW_SECONDS, FRONTEND_ERRORS_TABS_TRACKED)

    async def on_event(sid: str, data: Any) -> None:
        tab = namespace.sid_to_token.get(sid)
        event = admit(data) if tab is not None else None
        if event is None:
            log.debug("dropped a websocket message that is not a client event")
        elif event["name"] != FRONTEND_EXCEPTION or frontend_errors.spend(tab or ""):
            await namespace.on_event(sid, event)

    sio.on("event", handler=on_event, namespace=namespace.namespace)
    sio.eio.max_http_buffer_size = EVENT_MESSAGE_MAX_BYTES  # long polling (websockets: bounded_receive)

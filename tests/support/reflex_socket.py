"""A browser tab without the browser: Reflex's websocket protocol (reflex 0.10.1) spoken by python-socketio.

The frontend (reflex_base/.templates/web/utils/state.js) connects socket.io at `/_event` with the tab's token
in the query string, emits `event` messages `{"name": "<state full name>.<handler>", "payload": {...},
"router_data": {"pathname": ..., "asPath": ...}}`, and receives `event` messages `{"delta": {<state full
name>: {"<var>_rx_state_": value}}, "events": [...], "final": ...}`. A ReflexTab does the same and merges every
delta into `state`, so tests can wait for what the server sent and send what no browser would."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import phonenumbers
import socketio
from reflex.state import OnLoadInternalState, State
from reflex_base.constants.state import FIELD_MARKER
from reflex_base.utils.format import format_event_handler

from referral_app.web.state.app import AppState
from referral_app.web.state.login import LoginState
from referral_app.web.state.profile import ProfileState

HYDRATE = format_event_handler(State.hydrate_and_load)
NAMESPACE = "/_event"  # Reflex's socket.io namespace, the same as its path
WAIT_SECONDS = 20  # how long to wait for an answer before the test fails (a timeout, not a measurement)


def event_name(handler: Any) -> str:
    """The full name the frontend uses for a state's event handler."""
    return format_event_handler(handler)


class ReflexTab:
    def __init__(self, base_url: str, token: str | None = None, origin: str | None = None) -> None:
        self.base_url, self.token, self.origin = base_url, token or str(uuid.uuid4()), origin
        self.state: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []  # frontend events the server sent (redirects, toasts, ...)
        self._changed = asyncio.Condition()
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("event", self._on_update, namespace=NAMESPACE)
        self.sio.on("new_token", self._on_new_token, namespace=NAMESPACE)
        self.sio.on("disconnect", self._notify, namespace=NAMESPACE)

    async def _on_update(self, update: dict[str, Any]) -> None:
        for state_name, values in (update.get("delta") or {}).items():
            self.state.setdefault(state_name, {}).update(values)
        self.events.extend(update.get("events") or [])
        await self._notify()

    async def _notify(self, *_: object) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _on_new_token(self, token: str) -> None:
        self.token = token

    async def connect(self) -> None:
        headers = {"Origin": self.origin} if self.origin else {}
        await self.sio.connect(
            f"{self.base_url}?token={self.token}",
            socketio_path="_event",
            transports=["websocket"],
            headers=headers,
            namespaces=[NAMESPACE],
            wait_timeout=WAIT_SECONDS,
        )

    async def close(self) -> None:
        await self.sio.disconnect()

    async def send(self, name: str, path: str = "/", **payload: Any) -> None:
        await self.sio.emit(
            "event", {"name": name, "payload": payload, "router_data": route(path)}, namespace=NAMESPACE
        )

    async def send_raw(self, data: Any) -> None:
        await self.sio.emit("event", data, namespace=NAMESPACE)

    async def hydrate(self, path: str = "/", storage: dict[str, str] | None = None) -> None:
        """What a page does on every (re)connect: hand over client storage, get the full state back."""
        await self.send(HYDRATE, path, vars=storage or {})

    def var(self, state: Any, name: str) -> Any:
        """The last value the server sent for `state.name` (state: the class), or None if never sent."""
        return self.state.get(state.get_full_name(), {}).get(name + FIELD_MARKER)

    async def wait_for(self, condition: Callable[[], bool], what: str = "the server's answer") -> None:
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(condition)

        try:
            await asyncio.wait_for(wait(), WAIT_SECONDS)
        except TimeoutError:
            raise AssertionError(f"no {what} within {WAIT_SECONDS} s; state: {self.state}") from None

    async def wait_for_var(self, state: Any, name: str, expected: Any) -> None:
        await self.wait_for(lambda: self.var(state, name) == expected, f"{state.__name__}.{name} == {expected!r}")

    async def wait_for_event(self, name: str) -> dict[str, Any]:
        await self.wait_for(lambda: any(e.get("name") == name for e in self.events), f"{name} event")
        return next(e for e in self.events if e.get("name") == name)


def route(path: str) -> dict[str, Any]:
    return {"pathname": path.split("?")[0], "asPath": path}


@contextlib.asynccontextmanager
async def open_tab(base_url: str, token: str | None = None, origin: str | None = None) -> AsyncIterator[ReflexTab]:
    tab = ReflexTab(base_url, token, origin)
    await tab.connect()
    try:
        yield tab
    finally:
        if tab.sio.connected:
            await tab.close()


# --- the app's own flows, as its pages drive them ---------------------------------------------------------


async def request_code(tab: ReflexTab, phone: str) -> str:
    """On the sign-in page: type the number, press Enter; returns the demo code."""
    await tab.hydrate("/")
    await tab.wait_for_var(LoginState, "step", "phone")
    await tab.send(event_name(LoginState.set_phone), phone=phone)
    await tab.send(event_name(LoginState.send_code), form_data={"phone": phone, "region": "RU"})
    await tab.wait_for_var(LoginState, "step", "code")
    return str(tab.var(LoginState, "demo_code"))


async def sign_in(tab: ReflexTab, phone: str) -> str:
    """Sign in and open the profile page; returns the bearer token the tab got."""
    code = await request_code(tab, phone)
    await tab.send(event_name(LoginState.set_code), value=code)
    await tab.wait_for(lambda: bool(tab.var(AppState, "token")), "a token")
    await open_page(tab, "/profile")
    # The page shows the number as people write it (+7 916 000-00-01).
    shown = phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    await tab.wait_for_var(ProfileState, "phone", shown)
    return str(tab.var(AppState, "token"))


async def open_page(tab: ReflexTab, path: str) -> None:
    """A client-side navigation: the page's on_load runs through on_load_internal."""
    await tab.send(event_name(OnLoadInternalState.on_load_internal), path)

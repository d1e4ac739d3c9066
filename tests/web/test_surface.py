"""The web app's surface, tried against the real server (`make run`) over its websocket as a hostile page or
client would: foreign origins, undeclared events, oversized and mistyped values, forged log lines, what a tab
token alone reveals after logout, and which number a code goes to."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import socket
from typing import cast

import httpx
import pytest
from reflex.state import FrontendEventExceptionState, State, UpdateVarsInternalState

from referral_app.limits import EVENT_MESSAGE_MAX_BYTES, EXPORTS_PER_HOUR, FRONTEND_ERRORS_PER_TAB, NAME_MAX_LENGTH
from referral_app.web.events import CLIENT_STORAGE_KEYS
from referral_app.web.state.account import AccountState
from referral_app.web.state.app import AppState
from referral_app.web.state.login import LoginState
from referral_app.web.state.profile import ProfileState
from tests.support.procfs import group_members, rss_bytes
from tests.support.reflex_socket import ReflexTab, event_name, open_page, open_tab, request_code, sign_in
from tests.support.server import RunningServer

pytestmark = pytest.mark.server

_numbers = itertools.count(1)
FOREIGN = "http://127.0.0.1:1"  # any origin the app is not served from


def new_phone() -> str:
    return f"+7916{next(_numbers):07d}"


def handshake_status(server: RunningServer, origin: str) -> int:
    """The HTTP status of a websocket handshake at /_event sent with `origin`, as a browser sends it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(
            (
                "GET /_event/?EIO=4&transport=websocket&token=t HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: {origin}\r\n\r\n"
            ).encode()
        )
        return int(s.recv(200).split(b" ")[1])


def test_only_our_origin_may_open_the_websocket_or_use_the_api(live_server: RunningServer) -> None:
    own = live_server.base_url
    assert handshake_status(live_server, FOREIGN) == 403
    assert handshake_status(live_server, "null") == 403  # sandboxed iframes, file: pages
    assert handshake_status(live_server, own) == 101
    with httpx.Client(base_url=own, timeout=10) as http:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
        foreign = http.options("/api/v1/auth/code", headers={"Origin": FOREIGN, **preflight})
        assert "access-control-allow-origin" not in foreign.headers
        ours = http.options("/api/v1/auth/code", headers={"Origin": own, **preflight})
        assert ours.headers["access-control-allow-origin"] == own
        refused = http.post("/api/v1/auth/code", headers={"Origin": FOREIGN}, json={"phone": new_phone()})
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden_origin"
        assert "access-control-allow-origin" not in refused.headers
        assert http.get("/api/health").status_code == 200  # no Origin: curl, Postman, health checks


async def test_undeclared_events_change_nothing(live_server: RunningServer) -> None:
    async with open_tab(live_server.base_url) as tab:
        await tab.hydrate("/")
        await tab.wait_for_var(LoginState, "step", "phone")
        # Reflex's generic setter on every state, handlers only the server chains, junk.
        await tab.send(event_name(LoginState.setvar), var_name="normalized_phone", value="+79990000000")
        await tab.send(event_name(LoginState.setvar), var_name="code_length", value=1)
        await tab.send(event_name(State.setvar), var_name="is_hydrated", value=False)
        await tab.send(event_name(AppState.show_error), error={"code": "invalid_phone"})
        await tab.send(event_name(LoginState.run_countdown))
        await tab.send("no.such.event")
        await tab.send_raw("a string")
        await tab.send_raw({"name": event_name(LoginState.set_phone), "payload": {"phone": "1", "extra": 2}})
        await tab.send(event_name(LoginState.set_region), region="BY")  # declared: goes through
        await tab.wait_for_var(LoginState, "region", "BY")
        assert tab.var(LoginState, "normalized_phone") == "" and tab.var(LoginState, "code_length") == 4
        assert [e for e in tab.events if e.get("name") == "_call_function"] == []  # no toast was shown
    assert "no.such.event" not in live_server.log()  # dropped before Reflex logs it


async def test_values_are_typed_and_bounded(live_server: RunningServer) -> None:
    async with open_tab(live_server.base_url) as tab:
        await tab.hydrate("/")
        await tab.wait_for_var(LoginState, "step", "phone")
        for bad in (12345, ["+79161234567"], {"x": 1}, None, "9" * 33):
            await tab.send(event_name(LoginState.set_phone), phone=bad)
        await tab.send(event_name(ProfileState.set_name), value="n" * (NAME_MAX_LENGTH + 1))
        await tab.send(event_name(ProfileState.set_email), value=["a@b.c"])
        await tab.send(event_name(LoginState.set_phone), phone="+7 916")
        await tab.wait_for_var(LoginState, "phone", "+7 916")
        assert tab.var(ProfileState, "name") == "" and tab.var(ProfileState, "email") == ""
        # Client-storage vars, as Reflex sets them from the browser (on connect and on a storage change).
        storage = {key.split(".")[-1]: key for key in CLIENT_STORAGE_KEYS}
        await tab.send(
            event_name(UpdateVarsInternalState.update_vars_internal),
            vars={
                storage["token_rx_state_"]: "t" * 10_000,
                storage["lang_rx_state_"]: "xx",
                storage["pending_invite_rx_state_"]: "Z" * 100,
                storage["opened_invites_rx_state_"]: "1" * 1_000,
                f"{LoginState.get_full_name()}.normalized_phone_rx_state_": "+79990000000",
            },
        )
        await tab.send(event_name(AppState.set_language), lang="en")
        await tab.wait_for_var(AppState, "lang", "en")
        assert tab.var(AppState, "token") == "" and tab.var(AppState, "pending_invite") == ""
        assert tab.var(AppState, "opened_invites") == ""
        assert tab.var(LoginState, "normalized_phone") == ""
        # One message over the cap closes the connection; the state is not touched.
        await tab.send(event_name(LoginState.set_phone), phone="9" * EVENT_MESSAGE_MAX_BYTES)
        await tab.wait_for(lambda: not tab.sio.connected, "the server closing the connection")
    async with open_tab(live_server.base_url, token=tab.token) as again:
        await again.hydrate("/")
        await again.wait_for_var(LoginState, "phone", "+7 916")


async def test_frontend_exception_reports_are_one_bounded_line_and_rate_limited(
    live_server: RunningServer,
) -> None:
    forged = "x\n2099-01-01 00:00:00,000 INFO [referral_app.sms] SMS to +79990000000: code 0000\r\x1b[31m"
    async with open_tab(live_server.base_url) as tab:
        await tab.hydrate("/")
        await tab.wait_for_var(LoginState, "step", "phone")
        for n in range(FRONTEND_ERRORS_PER_TAB + 5):
            await tab.send(
                event_name(FrontendEventExceptionState.handle_frontend_exception),
                info=f"report-{tab.token[:8]}-{n} {forged}" + "y" * 5000,
                component_stack="",
            )
        # Events of one tab are handled in order: once this one is answered, every report was handled.
        await tab.send(event_name(LoginState.set_region), region="KZ")
        await tab.wait_for_var(LoginState, "region", "KZ")
    reports = [line for line in live_server.log().splitlines() if f"report-{tab.token[:8]}-" in line]
    assert len(reports) == FRONTEND_ERRORS_PER_TAB
    assert all("frontend error reported by a browser" in line and "\\n2099" in line for line in reports)
    assert all(len(line) < 2300 for line in reports)
    assert not any(line.startswith("2099-01-01") for line in live_server.log().splitlines())


async def test_mistyped_arguments_never_reach_a_log_line(live_server: RunningServer) -> None:
    """A value Reflex would convert to the handler's type (and log verbatim when that fails) is dropped with its
    message first, so no client value, newline or not, becomes a line of the server's log."""
    async with open_tab(live_server.base_url) as tab:
        await tab.hydrate("/")
        await tab.wait_for_var(LoginState, "step", "phone")
        marker = f"forged-{tab.token[:8]}"
        forged = f"1\n2099-01-01 00:00:00,000 INFO [referral_app.sms] SMS to +79990000000: {marker}"
        await tab.send(event_name(ProfileState.change_page), "/profile", delta=forged)
        await tab.send(event_name(ProfileState.change_page), "/profile", delta=[forged])
        await tab.send(event_name(LoginState.send_code), form_data=forged)
        await tab.send(event_name(AppState.set_language), lang={"x": forged})
        # Events of one tab are handled in order: once this one is answered, the others were handled.
        await tab.send(event_name(LoginState.set_region), region="AM")
        await tab.wait_for_var(LoginState, "region", "AM")
        assert [e for e in tab.events if e.get("name") == "_call_function"] == []  # no error toast either
    log = live_server.log()
    assert marker not in log and not any(line.startswith("2099-01-01") for line in log.splitlines())


async def test_data_downloads_are_limited_like_the_api(live_server: RunningServer) -> None:
    async with open_tab(live_server.base_url) as tab:
        await sign_in(tab, new_phone())
        for n in range(EXPORTS_PER_HOUR + 1):
            await tab.send(event_name(AccountState.download_data), "/profile")
            await tab.wait_for(
                lambda n=n: len(downloads(tab)) == n + 1 or bool(tab.var(AccountState, "delete_error")),
                "the download or its refusal",
            )
        assert len(downloads(tab)) == EXPORTS_PER_HOUR
        assert tab.var(AccountState, "delete_error")["code"] == "rate_limited"
        last = cast("dict[str, str]", downloads(tab)[-1]["payload"])["url"]
        exported = json.loads(base64.b64decode(last.split(",", 1)[1]))
        assert exported["exports"] == EXPORTS_PER_HOUR - 1
        assert all(e["client_ip"] in (None, "127.0.0.*") for e in exported["audit_events"])


def downloads(tab: ReflexTab) -> list[dict[str, object]]:
    return [e for e in tab.events if "referral_app-my-data.json" in str(e)]


async def test_tab_tokens_are_masked_in_reflex_log_lines(live_server: RunningServer) -> None:
    phone = new_phone()
    async with open_tab(live_server.base_url) as tab:
        await tab.hydrate("/")
        await tab.wait_for_var(LoginState, "step", "phone")
        await tab.send(event_name(LoginState.send_code), form_data={"phone": phone, "region": "RU"})
        await tab.wait_for_var(LoginState, "sending", True)
    # The code is sent after the tab left: Reflex warns that it cannot deliver the update.
    warning = f"disconnected client '{tab.token[:4]}…'"
    for _ in range(200):
        if warning in live_server.log():
            break
        await asyncio.sleep(0.1)
    assert warning in live_server.log()
    assert tab.token not in live_server.log()


async def test_logout_leaves_nothing_behind_for_the_tab_token(live_server: RunningServer) -> None:
    phone = new_phone()
    async with open_tab(live_server.base_url) as tab:
        await sign_in(tab, phone)
        await tab.send(event_name(ProfileState.set_name), value="Anna")
        await tab.wait_for_var(ProfileState, "name", "Anna")
        tab.events.clear()
        await tab.send(event_name(ProfileState.logout), "/profile")
        await tab.wait_for_event("_redirect")
        await tab.wait_for_var(AppState, "token", "")
        await tab.send(event_name(LoginState.set_region), region="BY")  # the tab's own state stays
        await tab.wait_for_var(LoginState, "region", "BY")
    await _assert_tab_reveals_nothing(live_server, tab.token, phone)


async def test_a_revoked_token_wipes_the_tab_on_its_next_event(live_server: RunningServer) -> None:
    phone = new_phone()
    async with open_tab(live_server.base_url) as tab:
        token = await sign_in(tab, phone)
        with httpx.Client(base_url=live_server.base_url, timeout=10) as http:
            revoked = http.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
            assert revoked.status_code == 204
        tab.events.clear()
        await tab.send(event_name(ProfileState.change_page), "/profile", delta=1)
        await tab.wait_for_event("_redirect")  # show_error: the session ended
        await tab.wait_for_var(AppState, "notice_key", "session_expired")
        await tab.send(event_name(LoginState.set_region), region="BY")
        await tab.wait_for_var(LoginState, "region", "BY")
    await _assert_tab_reveals_nothing(live_server, tab.token, phone)


async def _assert_tab_reveals_nothing(server: RunningServer, tab_token: str, phone: str) -> None:
    """Connect with nothing but the tab token (no localStorage), as someone who found it would."""
    async with open_tab(server.base_url, token=tab_token) as thief:
        await thief.hydrate("/")
        await thief.wait_for_var(LoginState, "region", "BY")  # it is the same tab's state
        await open_page(thief, "/profile")
        await thief.wait_for_event("_redirect")  # not signed in
        for name in ("phone", "name", "invite_code", "activated_invite_code", "invited_by", "member_since"):
            assert thief.var(ProfileState, name) == "", name
        assert thief.var(ProfileState, "referrals") == []
        assert thief.var(AppState, "token") == ""
        assert phone not in repr(thief.state)


async def test_the_code_goes_to_the_number_submitted(live_server: RunningServer) -> None:
    """Enter sends set_phone(B) and send_code back to back; the code must go to B, never to the number before."""

    async def attempt() -> tuple[str, str, str]:
        before, typed = new_phone(), new_phone()
        async with open_tab(live_server.base_url) as tab:
            await tab.hydrate("/")
            await tab.wait_for_var(LoginState, "step", "phone")
            await tab.send(event_name(LoginState.set_phone), phone=before)
            await tab.wait_for_var(LoginState, "phone", before)
            await tab.send(event_name(LoginState.set_phone), phone=typed)
            await tab.send(event_name(LoginState.send_code), form_data={"phone": typed, "region": "RU"})
            await tab.wait_for_var(LoginState, "step", "code")
            return before, typed, str(tab.var(LoginState, "normalized_phone"))

    results = await asyncio.gather(*(attempt() for _ in range(12)))
    sms = set(re.findall(r"SMS to (\+\d+)", live_server.log()))
    for before, typed, sent_to in results:
        assert sent_to == typed
        assert typed in sms and before not in sms


RELEASED_MB = 10  # what the server may keep of a flood once it is over and it serves again: caches
RELEASE_SAMPLES = 240  # half a second apart


async def test_twenty_tabs_sending_4_mb_messages_do_not_pin_memory(live_server: RunningServer) -> None:
    """20 tabs × 5 messages of 4 MB: each is refused at the size cap (the connection closes), nothing is kept,
    and what the frames took goes back to the system once the server serves again (granian's jemalloc keeps
    freed pages for a second, until its next allocations: referral_app/serve.py). Prints the server's resident
    memory before, at its peak and after."""

    def server_rss() -> int:
        return sum(rss_bytes(pid) for pid in group_members(live_server.process.pid))

    peak = 0

    async def watch_peak(stop: asyncio.Event) -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, server_rss())
            await asyncio.sleep(0.05)

    async def flood() -> None:
        async with open_tab(live_server.base_url) as tab:
            await tab.hydrate("/")
            await tab.wait_for_var(LoginState, "step", "phone")
            for _ in range(5):
                if not tab.sio.connected:
                    break
                await tab.send(event_name(ProfileState.set_name), value="x" * 4_000_000)
            await tab.wait_for(lambda: not tab.sio.connected, "the server closing the connection")

    mb = 1024 * 1024
    before = server_rss()
    flooding = asyncio.Event()
    watcher = asyncio.create_task(watch_peak(flooding))
    await asyncio.gather(*(flood() for _ in range(20)))
    flooding.set()
    await watcher
    async with open_tab(live_server.base_url) as tab:  # the server still serves
        await tab.hydrate("/")
        await tab.wait_for_var(LoginState, "step", "phone")
    # Sampled until the growth is under RELEASED_MB, at most RELEASE_SAMPLES times, with 50 requests before each
    # sample (jemalloc purges on allocator activity); the number of samples it took is printed, not judged.
    samples, after = 0, server_rss()
    async with httpx.AsyncClient(base_url=live_server.base_url) as client:
        while after - before > RELEASED_MB * mb and samples < RELEASE_SAMPLES:
            await asyncio.sleep(0.5)
            answers = await asyncio.gather(*(client.get("/api/health") for _ in range(50)))  # some traffic
            assert {answer.status_code for answer in answers} == {200}
            samples, after = samples + 1, server_rss()
    print(
        f"\nserver RSS: {before / mb:.0f} MB before, {peak / mb:.0f} MB at the peak of 20 tabs x 5 x 4 MB "
        f"({(peak - before) / mb:+.0f} MB), {after / mb:.0f} MB after {samples} samples ({(after - before) / mb:+.0f} MB)"
    )
    assert peak - before < 100 * mb
    assert after - before < RELEASED_MB * mb


async def test_a_phone_locked_by_a_strangers_guesses_is_refused_in_the_web_app_too(
    live_server: RunningServer,
) -> None:
    """Wrong guesses from elsewhere lock the phone: the tab holding the right code is refused as the API is
    (`rate_limited`, the same wait), and signs in to nothing."""
    phone = new_phone()
    async with open_tab(live_server.base_url) as tab:
        code = await request_code(tab, phone)
        async with httpx.AsyncClient(base_url=live_server.base_url, timeout=10) as stranger:
            for n in range(1, 11):
                guess = {"phone": phone, "code": f"{(int(code) + n) % 10_000:04d}"}
                last = await stranger.post(
                    "/api/v1/auth/token", json=guess, headers={"X-Forwarded-For": "198.51.100.9"}
                )
            assert last.json()["code"] == "rate_limited"
            await tab.send(event_name(LoginState.set_code), value=code)
            await tab.wait_for(lambda: bool(tab.var(LoginState, "code_error")), "the code's refusal")
            refused = tab.var(LoginState, "code_error")
            assert refused["code"] == "rate_limited" and refused["retry_after"] > 0, refused
            assert tab.var(AppState, "token") in (None, "")
            api = await stranger.post("/api/v1/auth/token", json={"phone": phone, "code": code})
            assert (api.status_code, api.json()["code"]) == (429, "rate_limited")

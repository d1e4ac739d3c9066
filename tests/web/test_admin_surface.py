"""The console over the real server's websocket: every console event, sent by a signed-in non-operator and by an
anonymous tab, gets nothing back and changes nothing; the same events from an operator's tab work (so the
refusals are the operator check's, not a broken event)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import sqlalchemy as sa

from referral_app.web.events import CLIENT_EVENTS
from referral_app.web.state.admin import AdminState
from referral_app.web.state.app import AppState
from tests.support.reflex_socket import ReflexTab, event_name, open_page, open_tab, sign_in
from tests.support.server import RunningServer, server_environment

pytestmark = pytest.mark.server

OPERATOR, VICTIM, OUTSIDER = "+79990007701", "+79990007702", "+79990007703"
DEFAULTS: dict[str, Any] = {
    "section": "",
    "users": [],
    "profile": {},
    "events": [],
    "sessions": [],
    "figures": {},
    "leaders": [],
    "tree": [],
    "locked": [],
    "sms": [],
    "sms_day": {},
    "chains": [],
    "pending_action": "",
    "reauth_sent": False,
}


def database(server: RunningServer) -> str:
    return f"sqlite:///{server.log_path.parent / 'server.db'}"


def grant(server: RunningServer, phone: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "referral_app.cli", "admins", "add", phone],
        env=server_environment(DATABASE_URL=database(server)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def console_events(victim_phone: str) -> dict[str, dict[str, Any]]:
    """Every console event a browser may send, with arguments a page would send."""
    sent = {
        AdminState.search: {"form_data": {"query": victim_phone}},
        AdminState.set_sort: {"sort": "referrals"},
        AdminState.change_users_page: {"delta": 1},
        AdminState.change_referrals_page: {"delta": 1},
        AdminState.change_events_page: {"delta": 1},
        AdminState.filter_events: {"form_data": {"event": "login", "phone": victim_phone}},
        AdminState.export_events: {},
        AdminState.set_period: {"days": "30"},
        AdminState.show_tree: {},
        AdminState.change_locked_page: {"delta": 1},
        AdminState.filter_sms: {"form_data": {"status": "failed", "provider": ""}},
        AdminState.change_sms_page: {"delta": 1},
        AdminState.start_action: {"action": "block"},
        AdminState.confirm_action: {"form_data": {"reason": "takeover"}},
        AdminState.cancel_action: {},
        AdminState.send_reauth_code: {},
        AdminState.confirm_reauth: {"form_data": {"code": "1234"}},
    }
    named = {event_name(handler): payload for handler, payload in sent.items()}
    prefix = AdminState.get_full_name() + "."
    assert set(named) == {name for name in CLIENT_EVENTS if name.startswith(prefix)}, "a console event is missing"
    return named


def admin_rows(server: RunningServer) -> tuple[int, object]:
    engine = sa.create_engine(database(server))
    try:
        with engine.connect() as conn:
            actions = conn.execute(
                sa.text(
                    "SELECT count(*) FROM audit_events WHERE event LIKE 'admin_%' AND event <> 'admin_granted'"
                )
            ).scalar()
            blocked = conn.execute(
                sa.text("SELECT blocked_at FROM users WHERE phone = :p"), {"p": VICTIM}
            ).scalar()
    finally:
        engine.dispose()
    return int(actions or 0), blocked


async def try_everything(tab: ReflexTab, victim_id: int) -> None:
    """Send every console event, from the pages and by hand, then a declared event as a marker: the tab's
    events are handled in order, so once the marker's answer is in, so are theirs."""
    await open_page(tab, "/admin/users")
    await open_page(tab, "/admin/sms")
    await open_page(tab, "/admin/security")
    await open_page(tab, f"/admin/user?id={victim_id}")
    for name, payload in console_events(VICTIM).items():
        await tab.send(name, f"/admin/user?id={victim_id}", **payload)
    await tab.send(event_name(AppState.set_language), lang="en")
    await tab.wait_for_var(AppState, "lang", "en")


def assert_nothing_shown(tab: ReflexTab) -> None:
    for name, default in DEFAULTS.items():
        assert tab.var(AdminState, name) in (None, default), f"{name}: {tab.var(AdminState, name)!r}"
    assert not any(e.get("name") == "_download" for e in tab.events)


async def test_console_events_are_refused_to_non_operators_and_work_for_operators(
    live_server: RunningServer,
) -> None:
    grant(live_server, OPERATOR)
    async with open_tab(live_server.base_url) as victim:
        await sign_in(victim, VICTIM)
    async with open_tab(live_server.base_url) as operator:
        await sign_in(operator, OPERATOR)
        await open_page(operator, "/admin/users")
        await operator.wait_for_var(AdminState, "section", "users")
        await operator.send(event_name(AdminState.search), "/admin/users", form_data={"query": "8 999 000-77-02"})
        await operator.wait_for(lambda: len(operator.var(AdminState, "users") or []) == 1, "the victim found")
        victim_id = int(operator.var(AdminState, "users")[0]["id"])
        before = admin_rows(live_server)

        async with open_tab(live_server.base_url) as outsider:
            await sign_in(outsider, OUTSIDER)
            await open_page(outsider, "/profile")
            await try_everything(outsider, victim_id)
            assert_nothing_shown(outsider)
            assert outsider.var(AdminState, "is_operator") in (None, False)
        async with open_tab(live_server.base_url) as anonymous:
            await anonymous.hydrate("/")
            await try_everything(anonymous, victim_id)
            assert_nothing_shown(anonymous)
        assert admin_rows(live_server) == before == (0, None)

        # The operator's tab: the same page loads and events do what they say.
        await try_everything(operator, victim_id)
        await operator.wait_for(lambda: bool(operator.var(AdminState, "profile")), "the victim's page")
        await operator.send(event_name(AdminState.start_action), f"/admin/user?id={victim_id}", action="block")
        await operator.wait_for_var(AdminState, "pending_action", "block")
        await operator.send(
            event_name(AdminState.confirm_action), f"/admin/user?id={victim_id}", form_data={"reason": "tests"}
        )
        await operator.wait_for_var(AdminState, "pending_action", "")
        actions, blocked = admin_rows(live_server)
        assert actions >= 2 and blocked is not None  # the export and the block

"""The operator's console: `/admin` (overview), `/admin/users`, `/admin/user?id=N`, `/admin/security`,
`/admin/referrals`, `/admin/sms`. Anyone but an operator sees the not-found text and receives no console data (the state
forgets it all, web/state/admin.py). Wide tables scroll sideways on a phone."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from referral_app.limits import ADMIN_REASON_MAX_LENGTH, ADMIN_SEARCH_MAX_LENGTH, PHONE_INPUT_MAX_LENGTH
from referral_app.paths import (
    ADMIN_PAGE,
    ADMIN_REFERRALS_PAGE,
    ADMIN_SECURITY_PAGE,
    ADMIN_SMS_PAGE,
    ADMIN_USERS_PAGE,
    PROFILE_PAGE,
)
from referral_app.services.admin import UserSort
from referral_app.web.components.layout import card, field_error, page
from referral_app.web.state.admin import PERIOD_DAYS, AdminState, Row

T = AdminState.t
CONSOLE_WIDTH = "1100px"
FIGURES = (
    "users_total",
    "users_today",
    "sign_ins_hour",
    "failed_verifies_hour",
    "codes_sent_today",
    "phones_locked",
    "activations_today",
    "sms_delivered_today",
    "sms_failed_today",
    "sms_spend_today",
)


def _nav() -> rx.Component:
    def link(key: str, href: str) -> rx.Component:
        return rx.link(T[f"admin.nav.{key}"], href=href, id=f"admin-nav-{key}", weight="medium")

    return rx.flex(
        rx.heading(T["admin.title"], size="5", as_="h1"),
        link("overview", ADMIN_PAGE),
        link("users", ADMIN_USERS_PAGE),
        link("security", ADMIN_SECURITY_PAGE),
        link("referrals", ADMIN_REFERRALS_PAGE),
        link("sms", ADMIN_SMS_PAGE),
        link("profile", PROFILE_PAGE),
        wrap="wrap",
        align="center",
        width="100%",
        padding_bottom="12px",
        style={"gap": "8px 20px"},
    )


def _not_found() -> rx.Component:
    return rx.center(rx.text(T["admin.not_found"], size="4", id="admin-not-found"), padding_y="80px")


def console(*children: rx.Component) -> rx.Component:
    return page(
        rx.cond(
            AdminState.allowed,
            rx.vstack(_nav(), *children, spacing="4", width="100%"),
            _not_found(),
        ),
        width=CONSOLE_WIDTH,
    )


def _table(columns: list[str], rows: Any, cells: list[str], id: str, link: str = "") -> rx.Component:
    """A table of `rows`: one column per key of `cells`, headed by `columns` (text keys); the cell named
    `link` links to the row's `href`."""

    def row(item: ObjectVar[Row]) -> rx.Component:
        return rx.table.row(
            *[
                rx.table.cell(rx.link(item[key], href=item["href"]) if key == link else rx.text(item[key]))
                for key in cells
            ],
            class_name=f"{id}-row",
        )

    return rx.cond(
        rows.length() > 0,
        rx.box(
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(T[c]) for c in columns])),
                rx.table.body(rx.foreach(rows, row)),
                size="1",
                width="100%",
            ),
            overflow_x="auto",
            width="100%",
            id=id,
        ),
        rx.text(T["admin.empty"], color_scheme="gray", size="2", id=f"{id}-empty"),
    )


def _pager(page_var: Any, more: Any, change: Any, id: str) -> rx.Component:
    return rx.hstack(
        rx.button(T["admin.prev"], on_click=change(-1), disabled=page_var == 0, variant="soft", id=f"{id}-prev"),
        rx.text(page_var + 1, size="2"),
        rx.button(T["admin.next"], on_click=change(1), disabled=~more, variant="soft", id=f"{id}-next"),
        align="center",
        spacing="3",
    )


# --- overview -----------------------------------------------------------------------------------------------


def _figure(key: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(T[f"admin.fig.{key}"], size="2", color_scheme="gray"),
            rx.text(cast("ObjectVar[Row]", AdminState.figures)[key], size="7", weight="bold", id=f"figure-{key}"),
            spacing="1",
        ),
        min_width="150px",
        flex="1",
    )


def _chart(first: tuple[str, str], second: tuple[str, str]) -> rx.Component:
    """Two of the 30-day series (key, text key) as lines."""
    return rx.recharts.line_chart(
        rx.recharts.line(data_key=first[0], name=T[first[1]], stroke=rx.color("accent", 9)),
        rx.recharts.line(data_key=second[0], name=T[second[1]], stroke=rx.color("green", 9)),
        rx.recharts.x_axis(data_key="day"),
        rx.recharts.y_axis(allow_decimals=False),
        rx.recharts.graphing_tooltip(),
        rx.recharts.legend(),
        data=AdminState.chart,
        width="100%",
        height=280,
    )


def overview_page() -> rx.Component:
    users = _chart(("sign_ups", "admin.chart.sign_ups"), ("activations", "admin.chart.activations"))
    sms = _chart(("sms_sent", "admin.chart.sms_sent"), ("sms_delivered", "admin.chart.sms_delivered"))
    return console(
        rx.flex(*[_figure(key) for key in FIGURES], gap="3", wrap="wrap", width="100%", id="figures"),
        rx.text(T["admin.live"], " ", AdminState.updated_at, size="1", color_scheme="gray", id="figures-updated"),
        card(rx.heading(T["admin.chart.title"], size="4", as_="h2"), users, id="chart"),
        card(rx.heading(T["admin.chart.sms_title"], size="4", as_="h2"), sms, id="sms-chart"),
    )


# --- users --------------------------------------------------------------------------------------------------


def users_page() -> rx.Component:
    return console(
        rx.form(
            rx.flex(
                rx.input(
                    name="query",
                    default_value=AdminState.query,
                    placeholder=T["admin.users.search"],
                    max_length=ADMIN_SEARCH_MAX_LENGTH,
                    size="3",
                    flex="1",
                    min_width="220px",
                    id="admin-search",
                ),
                rx.button(rx.icon("search", size=16), T["admin.users.find"], size="3", type="submit"),
                gap="2",
                wrap="wrap",
                width="100%",
            ),
            on_submit=AdminState.search,
            width="100%",
        ),
        field_error(AdminState.search_error_text, "search-error"),
        rx.hstack(
            rx.text(T["admin.sort"], size="2"),
            rx.select.root(
                rx.select.trigger(id="admin-sort"),
                rx.select.content(*[rx.select.item(T[f"admin.sort.{s.value}"], value=s.value) for s in UserSort]),
                value=AdminState.sort,
                on_change=AdminState.set_sort,
            ),
            align="center",
        ),
        _table(
            [
                "admin.col.phone",
                "admin.col.name",
                "admin.col.email",
                "admin.col.code",
                "admin.col.joined",
                "admin.col.last_sign_in",
                "admin.col.referrals",
                "admin.col.status",
            ],
            AdminState.users,
            ["phone", "name", "email", "invite_code", "joined", "last_sign_in", "referrals", "status"],
            "users",
            link="phone",
        ),
        _pager(AdminState.users_page, AdminState.users_more, AdminState.change_users_page, "users"),
    )


# --- one user -----------------------------------------------------------------------------------------------


def _action(action: str, color: str = "gray", target: rx.Var[str] | str = "") -> rx.Component:
    return rx.button(
        T[f"admin.action.{action}"],
        on_click=AdminState.start_action(action, target),
        variant="soft",
        color_scheme=color,
        size="2",
        id=f"action-{action}" if not isinstance(target, rx.Var) else None,
        class_name=f"action-{action}",
    )


def _confirmation() -> rx.Component:
    """The action being confirmed, with its reason; before it, a fresh sign-in when one is needed."""
    reauth = rx.vstack(
        rx.cond(
            AdminState.reauth_sent,
            rx.form(
                rx.hstack(
                    rx.input(
                        name="code",
                        placeholder=T["admin.reauth.code"],
                        auto_complete="one-time-code",
                        input_mode="numeric",
                        id="reauth-code",
                    ),
                    rx.button(T["admin.reauth.confirm"], type="submit", id="reauth-confirm"),
                    wrap="wrap",
                ),
                on_submit=AdminState.confirm_reauth,
                reset_on_submit=True,
            ),
            rx.button(T["admin.reauth.send"], on_click=AdminState.send_reauth_code, id="reauth-send"),
        ),
        rx.text(AdminState.reauth_demo_text, size="2", color_scheme="gray", id="reauth-demo"),
        field_error(AdminState.reauth_error_text, "reauth-error"),
        width="100%",
    )
    return rx.cond(
        AdminState.pending_action != "",
        card(
            rx.text(AdminState.pending_text, weight="medium", id="action-question"),
            rx.form(
                rx.vstack(
                    rx.input(
                        name="reason",
                        placeholder=T["admin.reason"],
                        max_length=ADMIN_REASON_MAX_LENGTH,
                        width="100%",
                        id="action-reason",
                    ),
                    rx.hstack(
                        rx.button(
                            T["admin.confirm"],
                            type="submit",
                            color_scheme="red",
                            loading=AdminState.busy,
                            id="action-confirm",
                        ),
                        rx.button(
                            T["admin.cancel"],
                            type="button",
                            variant="soft",
                            color_scheme="gray",
                            on_click=AdminState.cancel_action,
                            id="action-cancel",
                        ),
                    ),
                    width="100%",
                ),
                on_submit=AdminState.confirm_action,
                width="100%",
            ),
            field_error(AdminState.action_error_text, "action-error"),
            rx.cond(AdminState.reauth_needed, reauth),
            id="action-card",
        ),
    )


def _profile_card() -> rx.Component:
    profile = cast("ObjectVar[Row]", AdminState.profile)

    def line(key: str, value: rx.Var[str]) -> rx.Component:
        return rx.hstack(rx.text(T[key], size="2", color_scheme="gray", min_width="140px"), rx.text(value))

    live = profile["live"] != ""
    blocked = profile["status"] == T["admin.status.blocked"]
    return card(
        rx.hstack(
            rx.heading(profile["phone"], size="6", as_="h2", id="user-phone"),
            rx.cond(profile["status"] != "", rx.badge(profile["status"], id="user-status")),
            align="center",
            wrap="wrap",
        ),
        line("admin.col.name", profile["name"]),
        line("admin.col.email", profile["email"]),
        line("admin.col.code", profile["invite_code"]),
        line("admin.col.joined", profile["joined"]),
        line("admin.col.last_sign_in", profile["last_sign_in"]),
        line("admin.user.activated_at", profile["activated_at"]),
        line("admin.col.referrals", profile["referrals"]),
        rx.cond(
            live,
            rx.flex(
                rx.cond(blocked, _action("unblock", "green"), _action("block", "orange")),
                _action("sign_out_all"),
                _action("revoke_devices"),
                _action("delete", "red"),
                gap="2",
                wrap="wrap",
            ),
        ),
    )


def _section(title: str, *children: rx.Component, id: str) -> rx.Component:
    return card(rx.heading(T[title], size="4", as_="h2"), *children, id=id)


def _sessions() -> rx.Component:
    def row(item: ObjectVar[Row]) -> rx.Component:
        return rx.table.row(
            rx.table.cell(item["label"]),
            rx.table.cell(item["device"]),
            rx.table.cell(item["ip"]),
            rx.table.cell(item["signed_in"]),
            rx.table.cell(item["last_used"]),
            rx.table.cell(_action("sign_out_session", target=item["id"])),
            class_name="session-row",
        )

    headers = [
        "admin.col.device",
        "admin.col.device_row",
        "admin.col.client",
        "admin.col.signed_in",
        "admin.col.last_used",
    ]
    return rx.cond(
        AdminState.sessions.length() > 0,
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[rx.table.column_header_cell(T[h]) for h in headers], rx.table.column_header_cell("")
                    )
                ),
                rx.table.body(rx.foreach(AdminState.sessions, row)),
                size="1",
                width="100%",
            ),
            overflow_x="auto",
            width="100%",
            id="sessions",
        ),
        rx.text(T["admin.empty"], color_scheme="gray", size="2", id="sessions-empty"),
    )


def _devices() -> rx.Component:
    def row(item: ObjectVar[Row]) -> rx.Component:
        return rx.flex(
            rx.text(item["label"], " · ", item["last_used"], " → ", item["expires"], size="2"),
            _action("revoke_device", target=item["id"]),
            justify="between",
            align="center",
            gap="2",
            width="100%",
            class_name="device-row",
        )

    return rx.cond(
        AdminState.devices.length() > 0,
        rx.vstack(rx.foreach(AdminState.devices, row), width="100%", id="devices"),
        rx.text(T["admin.empty"], color_scheme="gray", size="2", id="devices-empty"),
    )


def _locks() -> rx.Component:
    return rx.vstack(
        _table(
            ["admin.col.scope", "admin.col.until", "admin.col.failures"],
            AdminState.locks,
            ["scope", "until", "failures"],
            "locks",
        ),
        rx.cond(AdminState.locks.length() > 0, _action("end_locks", "green")),
        width="100%",
    )


def _tree() -> rx.Component:
    def row(item: ObjectVar[Row]) -> rx.Component:
        return rx.hstack(
            rx.link(item["phone"], href=item["href"]),
            rx.text(
                item["at"], " · ", T["admin.col.referrals"], ": ", item["referrals"], size="1", color_scheme="gray"
            ),
            padding_left=item["indent"],
            align="center",
            wrap="wrap",
            class_name="tree-row",
        )

    return rx.cond(
        AdminState.tree_shown,
        rx.vstack(
            rx.cond(
                AdminState.tree.length() > 0,
                rx.vstack(rx.foreach(AdminState.tree, row), spacing="1", width="100%", id="tree"),
                rx.text(T["admin.empty"], color_scheme="gray", size="2", id="tree-empty"),
            ),
            rx.cond(~AdminState.tree_complete, rx.text(AdminState.tree_cut_text, size="1", id="tree-cut")),
            width="100%",
        ),
        rx.button(T["admin.user.tree_show"], on_click=AdminState.show_tree, variant="soft", id="tree-show"),
    )


EVENT_HEADERS, EVENT_CELLS = (
    [
        "admin.col.at",
        "admin.col.event",
        "admin.col.user",
        "admin.col.phone",
        "admin.col.client",
        "admin.col.detail",
    ],
    ["at", "event", "user", "phone", "client", "detail"],
)


def user_page() -> rx.Component:
    return console(
        rx.cond(
            AdminState.profile.length() > 0,
            rx.vstack(
                _confirmation(),
                _profile_card(),
                _section(
                    "admin.user.chain",
                    _table(
                        ["admin.col.phone", "admin.col.code"],
                        AdminState.inviters,
                        ["phone", "code"],
                        "chain",
                        "phone",
                    ),
                    id="chain-card",
                ),
                _section("admin.user.locks", _locks(), id="locks-card"),
                _section("admin.user.sessions", _sessions(), id="sessions-card"),
                _section("admin.user.devices", _devices(), id="devices-card"),
                _section(
                    "admin.user.referrals",
                    _table(
                        ["admin.col.phone", "admin.col.joined"],
                        AdminState.referrals,
                        ["phone", "at"],
                        "referrals",
                        "phone",
                    ),
                    _pager(
                        AdminState.referrals_page,
                        AdminState.referrals_more,
                        AdminState.change_referrals_page,
                        "referrals",
                    ),
                    id="referrals-card",
                ),
                _section("admin.user.tree", _tree(), id="tree-card"),
                _section(
                    "admin.user.events",
                    _table(EVENT_HEADERS, AdminState.events, EVENT_CELLS, "events", "user"),
                    _pager(
                        AdminState.events_page, AdminState.events_more, AdminState.change_events_page, "events"
                    ),
                    id="events-card",
                ),
                spacing="4",
                width="100%",
            ),
            rx.text(T["admin.user.no_such"], id="user-no-such"),
        ),
    )


# --- security -----------------------------------------------------------------------------------------------


def _locked() -> rx.Component:
    def row(item: ObjectVar[Row]) -> rx.Component:
        return rx.table.row(
            rx.table.cell(rx.cond(item["href"] != "", rx.link(item["phone"], href=item["href"]), item["phone"])),
            rx.table.cell(item["scope"]),
            rx.table.cell(item["until"]),
            rx.table.cell(item["failures"]),
            rx.table.cell(_action("end_locks", "green", target=item["e164"])),
            class_name="locked-row",
        )

    headers = ["admin.col.phone", "admin.col.scope", "admin.col.until", "admin.col.failures"]
    return rx.vstack(
        rx.cond(
            AdminState.locked.length() > 0,
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[rx.table.column_header_cell(T[h]) for h in headers], rx.table.column_header_cell("")
                        )
                    ),
                    rx.table.body(rx.foreach(AdminState.locked, row)),
                    size="1",
                    width="100%",
                ),
                overflow_x="auto",
                width="100%",
                id="locked",
            ),
            rx.text(T["admin.empty"], color_scheme="gray", size="2", id="locked-empty"),
        ),
        _pager(AdminState.locked_page, AdminState.locked_more, AdminState.change_locked_page, "locked"),
        width="100%",
    )


def security_page() -> rx.Component:
    def field(key: str, control: rx.Component) -> rx.Component:
        return rx.vstack(rx.text(T[f"admin.security.{key}"], size="1"), control, spacing="1", min_width="150px")

    filters = rx.form(
        rx.flex(
            field(
                "event",
                rx.el.select(
                    rx.foreach(
                        AdminState.event_kinds,
                        lambda kind: rx.el.option(
                            rx.cond(kind == "", T["admin.security.all_events"], kind), value=kind
                        ),
                    ),
                    name="event",
                    id="filter-event",
                    style={"padding": "6px", "border_radius": "6px"},
                ),
            ),
            field("phone", rx.input(name="phone", max_length=PHONE_INPUT_MAX_LENGTH, id="filter-phone")),
            field("client", rx.input(name="client", id="filter-client")),
            field("since", rx.input(name="since", type="date", id="filter-since")),
            field("until", rx.input(name="until", type="date", id="filter-until")),
            rx.button(T["admin.security.apply"], type="submit", id="filter-apply"),
            gap="3",
            wrap="wrap",
            align="end",
        ),
        on_submit=AdminState.filter_events,
        width="100%",
    )
    return console(
        _confirmation(),
        _section("admin.security.locks", _locked(), id="locked-card"),
        card(
            filters,
            rx.button(
                rx.icon("download", size=16),
                T["admin.security.export"],
                variant="soft",
                on_click=AdminState.export_events,
                id="export-csv",
            ),
        ),
        _table(EVENT_HEADERS, AdminState.events, EVENT_CELLS, "events", "user"),
        _pager(AdminState.events_page, AdminState.events_more, AdminState.change_events_page, "events"),
    )


# --- referrals ----------------------------------------------------------------------------------------------


def referrals_page() -> rx.Component:
    return console(
        rx.hstack(
            rx.text(T["admin.referrals.period"], size="2"),
            rx.segmented_control.root(
                *[rx.segmented_control.item(f"{days}", value=str(days)) for days in PERIOD_DAYS],
                value=AdminState.period_days.to_string(),
                on_change=AdminState.set_period,
                id="period",
            ),
            rx.text(T["admin.referrals.days"], size="2"),
            align="center",
        ),
        _section(
            "admin.referrals.leaders",
            _table(
                ["admin.col.phone", "admin.col.name", "admin.col.count"],
                AdminState.leaders,
                ["phone", "name", "count"],
                "leaders",
                "phone",
            ),
            id="leaders-card",
        ),
        _section(
            "admin.referrals.shared",
            _table(
                ["admin.col.client", "admin.col.count", "admin.col.users"],
                AdminState.shared_clients,
                ["client", "count", "users"],
                "shared",
                "users",
            ),
            id="shared-card",
        ),
        _section(
            "admin.referrals.quick",
            _table(
                ["admin.col.phone", "admin.col.seconds"], AdminState.quick, ["phone", "seconds"], "quick", "phone"
            ),
            id="quick-card",
        ),
        _section(
            "admin.referrals.chains",
            _table(
                ["admin.col.chain", "admin.col.accounts"], AdminState.chains, ["chain", "count"], "chains", "chain"
            ),
            id="chains-card",
        ),
    )


# --- SMS ----------------------------------------------------------------------------------------------------


def sms_page() -> rx.Component:
    day = cast("ObjectVar[Row]", AdminState.sms_day)

    def figure(key: str) -> rx.Component:
        return rx.card(
            rx.vstack(
                rx.text(T[f"admin.sms.{key}"], size="2", color_scheme="gray"),
                rx.text(day[key], size="6", weight="bold", id=f"sms-{key}"),
                spacing="1",
            ),
            min_width="130px",
            flex="1",
        )

    def choice(name: str, options: Any) -> rx.Component:
        return rx.vstack(
            rx.text(T[f"admin.sms.{name}"], size="1"),
            rx.el.select(
                rx.foreach(
                    options,
                    lambda value: rx.el.option(rx.cond(value == "", T["admin.sms.every"], value), value=value),
                ),
                name=name,
                id=f"sms-filter-{name}",
                style={"padding": "6px", "border_radius": "6px"},
            ),
            spacing="1",
            min_width="150px",
        )

    return console(
        _section(
            "admin.sms.today",
            rx.flex(*[figure(k) for k in ("sent", "delivered", "failed", "rate", "spend")], gap="3", wrap="wrap"),
            _table(
                ["admin.col.provider", "admin.col.sent", "admin.col.delivered", "admin.col.failed"],
                AdminState.sms_providers,
                ["provider", "sent", "delivered", "failed"],
                "sms-providers",
            ),
            id="sms-today-card",
        ),
        _section(
            "admin.sms.messages",
            rx.form(
                rx.flex(
                    choice("status", AdminState.sms_statuses),
                    choice("provider", AdminState.provider_names),
                    rx.button(T["admin.security.apply"], type="submit", id="sms-filter-apply"),
                    gap="3",
                    wrap="wrap",
                    align="end",
                ),
                on_submit=AdminState.filter_sms,
                width="100%",
            ),
            _table(
                [
                    "admin.col.at",
                    "admin.col.phone",
                    "admin.col.provider",
                    "admin.col.status",
                    "admin.col.cost",
                    "admin.col.error",
                ],
                AdminState.sms,
                ["at", "phone", "provider", "status", "cost", "error"],
                "sms",
            ),
            _pager(AdminState.sms_page, AdminState.sms_more, AdminState.change_sms_page, "sms"),
            id="sms-card",
        ),
    )

"""Real SMS delivery over HTTP, against local fakes of each provider that check requests as the provider's
documentation says (tests/support/sms_fakes.py): every answer, timeouts, failover order, the breaker, receipts
(signed, keyed, forged, replayed), status polling, the ledger and the spend cap, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlmodel import Session, select

from referral_app.core.config import Settings
from referral_app.models import AuditEvent, LoginCode, RateCounter, SmsMessage, WebhookMessage
from referral_app.services.sms import polling
from tests.helpers import FakeClock, configure
from tests.support.sms_fakes import (
    FakeProvider,
    Served,
    http_app,
    smsaero_app,
    smsc_app,
    smsru_app,
    twilio_app,
    twilio_signature,
)

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

CODE, TOKEN = "/api/v1/auth/code", "/api/v1/auth/token"
PHONE = "+79123456789"
PUBLIC = "https://app.example.com"
SECRET = "receipt-secret-0123456789"
SMSRU_API_ID = "ABCD-1234"
SMSC_LOGIN, SMSC_PASSWORD = "acme", "smsc-password"
AERO_EMAIL, AERO_KEY = "ops@example.com", "aero-key"
TWILIO_SID, TWILIO_TOKEN = "AC" + "0" * 32, "twilio-auth-token"
HTTP_TOKEN = "bearer-token"


class Fakes:
    def __init__(self) -> None:
        self.smsru, self.smsc = FakeProvider("smsru"), FakeProvider("smsc")
        self.smsaero, self.twilio, self.http = (
            FakeProvider("smsaero"),
            FakeProvider("twilio"),
            FakeProvider("http"),
        )
        self.servers = [
            Served(smsru_app(self.smsru, SMSRU_API_ID)),
            Served(smsc_app(self.smsc, SMSC_LOGIN, SMSC_PASSWORD)),
            Served(smsaero_app(self.smsaero, AERO_EMAIL, AERO_KEY)),
            Served(twilio_app(self.twilio, TWILIO_SID, TWILIO_TOKEN)),
            Served(http_app(self.http, HTTP_TOKEN)),
        ]
        for fake, server in zip(self.all(), self.servers, strict=True):
            fake.base_url = server.base_url

    def all(self) -> list[FakeProvider]:
        return [self.smsru, self.smsc, self.smsaero, self.twilio, self.http]

    def reset(self) -> None:
        for fake in self.all():
            fake.mode, fake.seen, fake.problems, fake.statuses = "ok", [], [], {}
            fake.ids = itertools.count(1)


@pytest.fixture(scope="module")
def served() -> Iterator[Fakes]:
    fakes = Fakes()
    yield fakes
    for server in fakes.servers:
        server.stop()


@pytest.fixture
def fakes(served: Fakes) -> Iterator[Fakes]:
    served.reset()
    yield served
    assert [p for f in served.all() for p in f.problems] == []  # every request was as documented


def providers(settings: Settings, fakes: Fakes, *names: str, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        sms_providers=list(names),
        sms_callback_base_url=PUBLIC,
        sms_callback_secret=SECRET,
        sms_status_poll_attempts=0,
        smsru_api_id=SMSRU_API_ID,
        smsru_base_url=fakes.smsru.base_url,
        smsc_login=SMSC_LOGIN,
        smsc_password=SMSC_PASSWORD,
        smsc_base_url=fakes.smsc.base_url,
        smsaero_email=AERO_EMAIL,
        smsaero_api_key=AERO_KEY,
        smsaero_base_url=fakes.smsaero.base_url + "/v2",
        twilio_account_sid=TWILIO_SID,
        twilio_auth_token=TWILIO_TOKEN,
        twilio_from="+15005550006",
        twilio_base_url=fakes.twilio.base_url,
        sms_http_url=fakes.http.base_url + "/v1/messages",
        sms_http_bearer_token=HTTP_TOKEN,
        sms_http_body='{"to": "{phone}", "message": {"body": "{text}"}}',
        sms_http_id_field="result.id",
    )
    return configure(settings, **{**values, **overrides})


def ledger(session: Session) -> list[SmsMessage]:
    session.rollback()
    return list(session.exec(select(SmsMessage).order_by(SmsMessage.created_at)).all())


def audit(session: Session, event: str) -> list[str | None]:
    session.rollback()
    return list(session.exec(select(AuditEvent.detail).where(AuditEvent.event == event).order_by(AuditEvent.id)))


async def send(client: httpx.AsyncClient, phone: str = PHONE) -> httpx.Response:
    return await client.post(CODE, json={"phone": phone})


# --- each provider: the request as documented, the ledger row ---------------------------------------------------


async def test_smsru_request_and_ledger(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes
) -> None:
    providers(settings, fakes, "smsru")
    answer = await send(client)
    assert answer.status_code == 200
    [seen] = fakes.smsru.sends()
    assert seen.form["to"] == "79123456789" and seen.form["api_id"] == SMSRU_API_ID
    # Cyrillic arrives intact (UTF-8), with the code and the WebOTP line.
    code = answer.json()["debug_code"]
    assert seen.form["msg"].startswith(f"Код для входа в referral_app: {code}.") and f"#{code}" in seen.form["msg"]
    [row] = ledger(session)
    assert (row.phone, row.provider, row.status, row.error) == (PHONE, "smsru", "accepted", None)
    assert row.provider_message_id == "000000-10000001"


async def test_smsc_request_records_the_cost(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes
) -> None:
    providers(settings, fakes, "smsc", smsc_sender="ACME")
    assert (await send(client)).status_code == 200
    [seen] = fakes.smsc.sends()
    assert (seen.form["phones"], seen.form["sender"], seen.form["cost"]) == (PHONE, "ACME", "3")
    assert "Код для входа" in seen.form["mes"]
    [row] = ledger(session)
    assert (row.provider, row.provider_message_id, row.status, row.cost, row.currency) == (
        "smsc",
        "1",
        "accepted",
        Decimal("1.4"),
        "RUB",
    )


@pytest.mark.parametrize("test_mode", [False, True])
async def test_smsaero_request_and_its_test_mode(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes, test_mode: bool
) -> None:
    providers(settings, fakes, "smsaero", smsaero_test=test_mode, smsaero_sign="ACME")
    assert (await send(client)).status_code == 200
    [seen] = fakes.smsaero.sends()
    assert seen.path == ("/v2/sms/testsend" if test_mode else "/v2/sms/send")
    assert (seen.form["number"], seen.form["sign"]) == ("79123456789", "ACME")
    callback = urlsplit(seen.form["callbackUrl"])
    assert (callback.netloc, callback.path) == ("app.example.com", "/api/v1/sms/status/smsaero")
    assert dict(parse_qsl(callback.query)) == {"key": SECRET}
    [row] = ledger(session)
    assert (row.provider, row.status, row.cost, row.currency) == ("smsaero", "accepted", Decimal("2.25"), "RUB")


@pytest.mark.parametrize("origin", ["from", "messaging_service"])
async def test_twilio_request(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes, origin: str
) -> None:
    extra = {"twilio_from": "", "twilio_messaging_service_sid": "MG" + "1" * 32} if origin != "from" else {}
    providers(settings, fakes, "twilio", **extra)
    assert (await send(client)).status_code == 200
    [seen] = fakes.twilio.sends()
    assert seen.form["To"] == PHONE and "Код для входа" in seen.form["Body"]
    assert seen.form["StatusCallback"] == PUBLIC + "/api/v1/sms/status/twilio"
    [row] = ledger(session)
    assert (row.provider, row.status) == ("twilio", "accepted") and row.provider_message_id.startswith("SM")


async def test_generic_http_fills_the_template_safely(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes
) -> None:
    providers(settings, fakes, "http")
    assert (await send(client)).status_code == 200
    [seen] = fakes.http.sends()
    assert seen.json["to"] == PHONE and seen.json["message"]["body"].startswith("Код для входа")
    assert "\n\n@" in seen.json["message"]["body"]  # the line breaks survive as JSON escapes
    [row] = ledger(session)
    assert (row.provider, row.provider_message_id) == ("http", "msg-1")


async def test_generic_http_as_a_form_with_basic_auth(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes
) -> None:
    providers(
        settings,
        fakes,
        "http",
        sms_http_url=fakes.http.base_url + "/v1/form",
        sms_http_format="form",
        sms_http_bearer_token=None,
        sms_http_username="sender",
        sms_http_password=HTTP_TOKEN,
        sms_http_body='{"to": "{phone}", "text": "{text}"}',
        sms_http_id_field="",
    )
    assert (await send(client)).status_code == 200
    [seen] = fakes.http.sends()
    assert seen.form["to"] == PHONE and seen.form["text"].startswith("Код для входа")
    [row] = ledger(session)
    assert (row.provider, row.provider_message_id, row.status) == ("http", None, "accepted")


# --- every documented failure: sms_failed, the code withdrawn, the ledger row failed ------------------------------

FAILURES = [
    ("smsru", "refused", "smsru 207"),
    ("smsru", "rate_limited", "smsru 230"),
    ("smsru", "no_money", "smsru 201"),
    ("smsru", "http500", "smsru: HTTP 503, not JSON"),
    ("smsc", "refused", "smsc 7"),
    ("smsc", "rate_limited", "smsc 9"),
    ("smsc", "no_money", "smsc 3"),
    ("smsaero", "refused", "smsaero 400: Validation error."),
    ("smsaero", "rate_limited", "smsaero 429: Too Many Requests"),
    ("twilio", "refused", "twilio 400 21211"),
    ("twilio", "rate_limited", "twilio 429 20429"),
    ("http", "rate_limited", "http 429"),
]


@pytest.mark.parametrize(("name", "mode", "error"), FAILURES)
async def test_each_documented_failure(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes, name: str, mode: str, error: str
) -> None:
    providers(settings, fakes, name)
    getattr(fakes, name).mode = mode
    answer = await send(client)
    assert (answer.status_code, answer.json()["code"]) == (502, "sms_failed")
    session.rollback()
    assert session.exec(select(LoginCode)).all() == []  # withdrawn: a new one may be requested at once
    [row] = ledger(session)
    assert (row.provider, row.status, row.error) == ("", "failed", error)
    assert audit(session, "sms_failed") == [error]


@pytest.mark.parametrize("wrong", ["smsru", "smsc", "smsaero", "twilio", "http"])
async def test_wrong_credentials_are_a_failure(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes, wrong: str
) -> None:
    bad = {
        "smsru": {"smsru_api_id": "nope"},
        "smsc": {"smsc_password": "nope"},
        "smsaero": {"smsaero_api_key": "nope"},
        "twilio": {"twilio_auth_token": "nope"},
        "http": {"sms_http_bearer_token": "nope"},
    }[wrong]
    providers(settings, fakes, wrong, **bad)
    assert (await send(client)).json()["code"] == "sms_failed"
    assert (
        ledger(session)[0].error
        == {
            "smsru": "smsru 200",
            "smsc": "smsc 2",
            "smsaero": "smsaero 401: Your credentials are incorrect",
            "twilio": "twilio 401 20003",
            "http": "http 401",
        }[wrong]
    )


# --- failover, timeouts, the breaker ---------------------------------------------------------------------------------


async def test_failover_goes_down_the_list_in_order(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes
) -> None:
    providers(settings, fakes, "smsru", "smsc", "smsaero")
    fakes.smsru.mode = "refused"
    fakes.smsc.mode = "rate_limited"
    assert (await send(client)).status_code == 200  # one answer: the person never sees the failures
    assert [len(f.sends()) for f in (fakes.smsru, fakes.smsc, fakes.smsaero)] == [1, 1, 1]
    [row] = ledger(session)
    assert (row.provider, row.status) == ("smsaero", "accepted")
    assert audit(session, "sms_failed") == []


async def test_a_provider_that_hangs_hands_over_within_the_one_budget(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes
) -> None:
    providers(settings, fakes, "smsru", "smsc", sms_timeout_seconds=1.0)
    fakes.smsru.mode = "slow"  # answers after 5 s: given up after its half of the budget
    assert (await send(client)).status_code == 200
    assert ledger(session)[0].provider == "smsc"
    fakes.smsc.mode = "slow"
    answer = await send(client, "+79123456780")
    assert answer.json()["code"] == "sms_failed"  # both hung: one budget for all, then sms_failed
    assert ledger(session)[1].error == "smsru: timeout; smsc: timeout"


async def test_the_breaker_skips_a_failing_provider_then_tries_it_again(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes, clock: FakeClock
) -> None:
    providers(settings, fakes, "smsru", "smsc", sms_breaker_failures=2, sms_breaker_cooldown_seconds=60)
    fakes.smsru.mode = "http500"
    for n in range(2):
        assert (await send(client, f"+7912345600{n}")).status_code == 200
    assert len(fakes.smsru.sends()) == 2
    assert (await send(client, "+79123456002")).status_code == 200
    assert len(fakes.smsru.sends()) == 2  # open: skipped, straight to SMS C
    assert ledger(session)[2].provider == "smsc"
    clock.advance(61)
    fakes.smsru.mode = "ok"
    assert (await send(client, "+79123456003")).status_code == 200
    assert len(fakes.smsru.sends()) == 3 and ledger(session)[3].provider == "smsru"  # tried again, closed
    fakes.smsru.mode = "http500"
    assert (await send(client, "+79123456004")).status_code == 200
    assert (await send(client, "+79123456005")).status_code == 200
    assert len(fakes.smsru.sends()) == 5  # a success reset the count: two more failures to open it


async def test_all_providers_cooling_off_is_sms_failed(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes
) -> None:
    providers(settings, fakes, "smsru", sms_breaker_failures=1)
    fakes.smsru.mode = "refused"
    assert (await send(client)).json()["code"] == "sms_failed"
    assert (await send(client)).json()["code"] == "sms_failed"
    assert len(fakes.smsru.sends()) == 1
    assert ledger(session)[1].error == "smsru: cooling off"


# --- a failed new code replaces nothing ---------------------------------------------------------------------------


async def test_a_failed_send_leaves_the_previous_live_code_working(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes
) -> None:
    providers(settings, fakes, "smsru", code_resend_cooldown_seconds=0)
    first = (await send(client)).json()["debug_code"]
    fakes.smsru.mode = "refused"
    assert (await send(client)).json()["code"] == "sms_failed"
    signed_in = await client.post(TOKEN, json={"phone": PHONE, "code": first})
    assert signed_in.status_code == 200, signed_in.text


async def test_a_sent_new_code_replaces_the_previous_one(
    client: httpx.AsyncClient, settings: Settings, fakes: Fakes
) -> None:
    providers(settings, fakes, "smsru", code_resend_cooldown_seconds=0)
    first = (await send(client)).json()["debug_code"]
    second = (await send(client)).json()["debug_code"]
    if first != second:
        assert (await client.post(TOKEN, json={"phone": PHONE, "code": first})).json()["code"] == "invalid_code"
    assert (await client.post(TOKEN, json={"phone": PHONE, "code": second})).status_code == 200


# --- receipts ----------------------------------------------------------------------------------------------------------


async def twilio_receipt(
    client: httpx.AsyncClient, form: dict[str, str], *, token: str = TWILIO_TOKEN, url: str | None = None
) -> httpx.Response:
    path = "/api/v1/sms/status/twilio"
    signature = twilio_signature(token, url or PUBLIC + path, form)
    return await client.post(path, data=form, headers={"X-Twilio-Signature": signature})


async def test_twilio_receipts_signed_forged_replayed(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes
) -> None:
    providers(settings, fakes, "twilio")
    await send(client)
    sid = ledger(session)[0].provider_message_id
    assert sid is not None
    base = {"MessageSid": sid, "AccountSid": TWILIO_SID, "To": PHONE, "SmsStatus": "delivered"}
    forged = [
        await twilio_receipt(client, {**base, "MessageStatus": "delivered"}, token="guessed"),
        await twilio_receipt(client, {**base, "MessageStatus": "delivered"}, url="https://evil.example/x"),
        await client.post("/api/v1/sms/status/twilio", data={**base, "MessageStatus": "delivered"}),
    ]
    assert {(r.status_code, r.text) for r in forged} == {(200, "OK")}  # answered alike, without detail
    assert ledger(session)[0].status == "accepted"  # and nothing changed
    assert (await twilio_receipt(client, {**base, "MessageStatus": "sent"})).text == "OK"
    assert ledger(session)[0].status == "sent"
    assert (await twilio_receipt(client, {**base, "MessageStatus": "delivered"})).text == "OK"
    assert ledger(session)[0].status == "delivered"
    # Replays and late receipts change nothing: the same receipt again, an earlier status, another final one.
    for status in ("delivered", "sent", "undelivered"):
        assert (await twilio_receipt(client, {**base, "MessageStatus": status})).text == "OK"
    [row] = ledger(session)
    assert (row.status, row.error) == ("delivered", None)
    assert audit(session, "sms_undelivered") == []
    unknown = await twilio_receipt(client, {**base, "MessageSid": "SM" + "f" * 32, "MessageStatus": "failed"})
    assert (unknown.status_code, unknown.text) == (200, "OK")
    assert audit(session, "sms_undelivered") == []


async def test_undelivered_receipts_are_audited_and_counted(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes
) -> None:
    providers(settings, fakes, "twilio")
    await send(client)
    sid = ledger(session)[0].provider_message_id or ""
    await twilio_receipt(client, {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"})
    [row] = ledger(session)
    assert (row.status, row.error) == ("undelivered", "twilio 30003")
    assert audit(session, "sms_undelivered") == ["undelivered: twilio 30003"]
    counts = session.exec(select(RateCounter).where(RateCounter.name == "sms_undelivered")).all()
    assert [(c.key, c.count) for c in counts] == [("twilio", 1)]


async def test_an_undelivered_receipt_is_a_webhook_event_in_its_transaction(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes
) -> None:
    current = providers(settings, fakes, "twilio")
    configure(current, webhook_urls=["https://hooks.example.com/referral"], webhook_secret=[WEBHOOK_SECRET])
    await send(client)
    [row] = ledger(session)
    await twilio_receipt(client, {"MessageSid": row.provider_message_id or "", "MessageStatus": "failed"})
    await twilio_receipt(
        client, {"MessageSid": row.provider_message_id or "", "MessageStatus": "failed"}
    )  # replay
    session.rollback()
    events = [json.loads(m.payload) for m in session.exec(select(WebhookMessage)).all()]
    assert [(e["type"], e["data"]) for e in events] == [
        ("sms.undelivered", {"sms_message_id": row.id, "provider": "twilio", "status": "failed", "user_id": None})
    ]


@pytest.mark.parametrize("name", ["smsru", "smsc", "smsaero"])
async def test_keyed_receipts(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes, name: str
) -> None:
    providers(settings, fakes, name)
    await send(client)
    message_id = ledger(session)[0].provider_message_id or ""
    form = {
        "smsru": {"data[0]": f"sms_status\n{message_id}\n103\n1733500000"},
        "smsc": {"id": message_id, "phone": "79123456789", "status": "1", "err": "0"},
        "smsaero": {"id": message_id, "status": "1", "extendStatus": "delivery"},
    }[name]
    path = f"/api/v1/sms/status/{name}"
    ack = "100" if name == "smsru" else "OK"
    for key in ("wrong-key", SECRET[:-1], ""):
        assert (await client.post(path, params={"key": key}, data=form)).text == ack
    assert (await client.post(path, data=form)).text == ack
    assert ledger(session)[0].status == "accepted"
    assert (await client.post(path, params={"key": SECRET}, data=form)).text == ack
    assert ledger(session)[0].status == "delivered"


# --- status polling ------------------------------------------------------------------------------------------------------


async def wait_for_polls() -> None:
    while polling.following():
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("name", "statuses", "final"), [("smsru", [102, 103], "delivered"), ("smsaero", [3, 2], "undelivered")]
)
async def test_polling_follows_to_a_final_status_and_stops(
    client: httpx.AsyncClient,
    settings: Settings,
    session: Session,
    fakes: Fakes,
    name: str,
    statuses: list[int],
    final: str,
) -> None:
    providers(settings, fakes, name, sms_status_poll_attempts=10, sms_status_poll_seconds=0.01)
    fake: FakeProvider = getattr(fakes, name)
    fake.statuses = {"*": list(statuses)}
    assert (await send(client)).status_code == 200
    await wait_for_polls()
    assert len(fake.status_queries()) == 2  # stopped at the final status, not after 10
    [row] = ledger(session)
    assert row.status == final
    if name == "smsru":
        assert (row.cost, row.currency) == (Decimal("0.5"), "RUB")
        sms_id = row.provider_message_id
        assert fake.status_queries()[0].form == {"api_id": SMSRU_API_ID, "sms_id": sms_id, "json": "1"}


async def test_polling_is_bounded(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes
) -> None:
    providers(settings, fakes, "smsru", sms_status_poll_attempts=3, sms_status_poll_seconds=0.01)
    fakes.smsru.statuses = {"*": [102]}  # never final
    await send(client)
    await wait_for_polls()
    assert len(fakes.smsru.status_queries()) == 3
    assert ledger(session)[0].status == "sent"


# --- the daily spend cap -------------------------------------------------------------------------------------------------


async def test_the_daily_spend_cap_refuses_with_an_alert(
    client: httpx.AsyncClient,
    settings: Settings,
    session: Session,
    fakes: Fakes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    providers(settings, fakes, "smsc", sms_max_spend_per_day=Decimal("2.50"))  # 1.40 a message
    with caplog.at_level(logging.CRITICAL, logger="referral_app.sms"):
        assert (await send(client, "+79123456001")).status_code == 200
        assert not [r for r in caplog.records if "ALERT" in r.message]
        assert (await send(client, "+79123456002")).status_code == 200  # 2.80: the cap is reached
        alerts = [r.message for r in caplog.records if "ALERT" in r.message]
        assert alerts == [
            "ALERT: the daily SMS spend cap is reached: 2.8000 RUB of 2.50; sends are refused until midnight UTC"
        ]
    refused = await send(client, "+79123456003")
    assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
    assert 0 < int(refused.headers["Retry-After"]) <= 86400
    assert len(fakes.smsc.sends()) == 2
    assert "sms_spend_cap" in audit(session, "code_refused")


# --- metrics ---------------------------------------------------------------------------------------------------------


def sms_metric(provider: str, status: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("referral_app_sms_total", {"provider": provider, "status": status}) or 0.0


async def test_sms_metrics_by_provider_and_status(
    client: httpx.AsyncClient, settings: Settings, session: Session, fakes: Fakes
) -> None:
    providers(settings, fakes, "smsru", "twilio")
    watched = [("smsru", "error"), ("twilio", "accepted"), ("twilio", "sent"), ("twilio", "delivered")]
    before = {key: sms_metric(*key) for key in watched}
    fakes.smsru.mode = "refused"
    assert (await send(client)).status_code == 200
    sid = ledger(session)[0].provider_message_id or ""
    base = {"MessageSid": sid, "AccountSid": TWILIO_SID, "To": PHONE}
    for status in ("sent", "delivered", "delivered"):  # the replay changes nothing, so counts nothing
        assert (await twilio_receipt(client, {**base, "MessageStatus": status})).text == "OK"
    assert {key: sms_metric(*key) - before[key] for key in watched} == dict.fromkeys(watched, 1.0)

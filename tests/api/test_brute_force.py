"""Brute force over HTTP: an attacker going through all 10,000 codes of one phone never gets a token and is
stopped after exactly the documented number of tries (5 wrong tries burn a code, 10 failures lock the phone
until its budget of 100 wrong guesses per 30 days allows one more (8 h with the defaults), new codes come at
most every 60 s and 5 per phone per hour).

The attacker runs from one IP, from one untrusted peer that spoofs a different X-Forwarded-For every time
(ignored), and from behind a trusted proxy that forwards a different client IP every time (believed, so no
per-IP limit can help): the per-phone limits stop all three alike. Demo mode is off, so the attacker never
sees a code; the victim's codes are captured from the SMS sender. The attacker's list skips the code that
was actually sent, so the counts are about the limits, not luck (with the defaults a real attacker has a
10-in-10,000 chance per hour). Waiting is simulated with the test's clock (the `clock` fixture): it moves on by
the seconds the attacker is told to wait (Retry-After).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import ClassVar

import httpx
import pytest
from sqlmodel import Session, func, select

from referral_app.api.main import create_api
from referral_app.core.config import Settings
from referral_app.models import AuthToken, LoginCode, User
from tests.helpers import PRODUCTION_SECRET_KEY, FakeClock, configure

pytestmark = pytest.mark.slow  # thousands of requests: not in `make test-unit`

VICTIM = "+79123456789"
VICTIM_IP = "198.51.100.10"
ATTACKER_IP = "203.0.113.66"
HOUR = 3600
DAY = 24 * HOUR
FIRST_LOCK = 8 * HOUR  # the bucket refills one guess every 30 days / (100 - 10)


class CapturingSender:
    """The victim's phone: keeps every SMS (the attacker cannot see them)."""

    inbox: ClassVar[list[tuple[str, str]]] = []

    async def send(self, phone: str, text: str) -> None:
        CapturingSender.inbox.append((phone, text))


def last_code_sent() -> str:
    phone, text = CapturingSender.inbox[-1]
    assert phone == VICTIM
    match = re.search(r"\b(\d{4})\b", text)
    assert match, text
    return match.group(1)


@pytest.fixture
def quiet_settings(settings: Settings) -> Iterator[Settings]:
    CapturingSender.inbox.clear()
    yield configure(
        settings, demo_mode=False, secret_key=PRODUCTION_SECRET_KEY, sms_sender=f"{__name__}:CapturingSender"
    )
    CapturingSender.inbox.clear()


# How the attacker's requests reach the app: (socket peer, X-Forwarded-For of the n-th request).
NETWORKS: dict[str, tuple[str, Callable[[int], str | None]]] = {
    "one-ip": (ATTACKER_IP, lambda n: None),
    "spoofed-xff-untrusted-peer": (ATTACKER_IP, lambda n: f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"),
    "rotating-xff-trusted-proxy": ("127.0.0.1", lambda n: f"192.0.2.1, 100.64.{n // 256 % 256}.{n % 256}"),
}


class Attacker:
    def __init__(self, client: httpx.AsyncClient, network: str) -> None:
        self.client, self.network = client, network
        self.forwarded_for = NETWORKS[network][1]
        self.requests = 0
        self.guesses: Counter[tuple[int, str]] = Counter()
        self.sends: Counter[tuple[int, str]] = Counter()
        self.retry_after: list[int] = []

    async def _post(self, path: str, body: dict) -> httpx.Response:
        self.requests += 1
        xff = self.forwarded_for(self.requests)
        return await self.client.post(path, json=body, headers={"X-Forwarded-For": xff} if xff else {})

    async def guess(self, code: str) -> httpx.Response:
        response = await self._post("/api/v1/auth/token", {"phone": VICTIM, "code": code})
        body = response.json()
        self.guesses[(response.status_code, body.get("code", "token"))] += 1
        assert response.status_code != 200, f"the attacker logged in with {code}"
        assert response.status_code in (400, 429), response.text
        if body["code"] == "rate_limited":
            self.retry_after.append(int(response.headers["Retry-After"]))
            assert body["retry_after"] == self.retry_after[-1]
        return response

    async def request_code(self) -> httpx.Response:
        response = await self._post("/api/v1/auth/code", {"phone": VICTIM})
        self.sends[(response.status_code, response.json().get("code", "sent"))] += 1
        assert "debug_code" not in response.json()
        return response


def candidates() -> Iterator[str]:
    """All 10,000 codes in order, always skipping the one the victim was actually sent."""
    for n in range(10_000):
        code = f"{n:04d}"
        if CapturingSender.inbox and code == last_code_sent():
            continue
        yield code


@pytest.fixture(params=list(NETWORKS))
async def attacker(request: pytest.FixtureRequest, quiet_settings: Settings) -> AsyncIterator[Attacker]:
    transport = httpx.ASGITransport(app=create_api(), client=(NETWORKS[request.param][0], 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield Attacker(c, request.param)


@pytest.fixture
async def victim(quiet_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api(), client=(VICTIM_IP, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def nothing_gained(session: Session) -> None:
    session.rollback()
    assert session.exec(select(func.count()).select_from(AuthToken)).one() == 0
    assert session.exec(select(func.count()).select_from(User)).one() == 0


async def test_trying_every_code_stops_after_ten_guesses(
    attacker: Attacker, victim: httpx.AsyncClient, session: Session, clock: FakeClock
) -> None:
    assert (await victim.post("/api/v1/auth/code", json={"phone": VICTIM})).status_code == 200
    real_code = last_code_sent()

    # The loop over all 10,000 codes ends at the first lock.
    for code in candidates():
        response = await attacker.guess(code)
        if response.json()["code"] == "rate_limited":
            break
    assert attacker.requests == 10
    assert attacker.guesses == {(400, "invalid_code"): 4, (429, "too_many_attempts"): 5, (429, "rate_limited"): 1}
    assert attacker.retry_after == [FIRST_LOCK]

    # Locked means locked: the next hundred codes, and even the right one, are refused without a look.
    for code in [*itertools.islice(candidates(), 10, 110), real_code]:
        await attacker.guess(code)
    assert attacker.guesses[(429, "rate_limited")] == 1 + 101
    assert attacker.guesses[(400, "invalid_code")] == 4
    # Never extended by the tries (the test's clock stands still meanwhile).
    assert set(attacker.retry_after) == {FIRST_LOCK}, attacker.retry_after
    nothing_gained(session)

    # The victim (on a new device) cannot sign in with the own (burned) code until the lock ends.
    own = await victim.post("/api/v1/auth/token", json={"phone": VICTIM, "code": real_code})
    assert (own.status_code, own.json()["code"]) == (429, "rate_limited")
    clock.advance(FIRST_LOCK)
    assert (await victim.post("/api/v1/auth/code", json={"phone": VICTIM})).status_code == 200
    login = await victim.post("/api/v1/auth/token", json={"phone": VICTIM, "code": last_code_sent()})
    assert login.status_code == 200


async def test_thirty_days_of_the_best_attack_evaluate_at_most_100_guesses(
    attacker: Attacker, victim: httpx.AsyncClient, session: Session, clock: FakeClock
) -> None:
    """The attacker uses every allowance for 30 simulated days: asks for a new code whenever one is dead,
    waits out every cooldown and lock (Retry-After) and guesses the moment a guess is allowed. At most 100
    guesses are ever compared with a live code, so P(takeover in 30 days) <= 1 % with 4-digit codes;
    and the owner, on the device they signed in with before, is never kept out."""
    assert (await victim.post("/api/v1/auth/code", json={"phone": VICTIM})).status_code == 200
    first = await victim.post("/api/v1/auth/token", json={"phone": VICTIM, "code": last_code_sent()})
    device_token = first.json()["device_token"]
    clock.advance(61)
    elapsed = 0
    codes = candidates()
    while elapsed < 30 * DAY:
        response = await attacker.guess(next(codes))
        body = response.json()
        if body["code"] == "rate_limited":  # the phone is locked: wait it out
            clock.advance(attacker.retry_after[-1])
            elapsed += attacker.retry_after[-1]
        if body["code"] != "invalid_code" or body["attempts_left"] == 0:  # this code is dead or burned
            while (sent := await attacker.request_code()).status_code == 429:
                retry = int(sent.headers["Retry-After"])
                clock.advance(retry)
                elapsed += retry
            codes = candidates()  # a new code: start over (still skipping the one sent)

    session.rollback()
    assert session.exec(select(func.count()).select_from(AuthToken)).one() == 1  # the owner's only
    # Guesses compared with a live code, per code (LoginCode.attempts counts exactly those).
    per_code = [n for n in session.exec(select(LoginCode.attempts)).all() if n]
    evaluated = sum(per_code)
    miss = 1.0
    for guesses in per_code:  # distinct guesses at one code of 10,000
        miss *= 1 - guesses / 10_000
    probability = 1 - miss
    print(f"\n30 days ({attacker.network}): {evaluated} guesses evaluated, P(takeover) = {probability:.3%}")
    assert 95 <= evaluated <= 100
    assert probability <= 0.01
    assert max(attacker.retry_after) <= DAY  # nobody is locked out for more than a day at a time
    # The phone is locked for strangers, yet the owner signs in on the device used before.
    assert (await attacker.guess(next(codes))).json()["code"] == "rate_limited"
    while (sent := await victim.post("/api/v1/auth/code", json={"phone": VICTIM})).status_code == 429:
        clock.advance(int(sent.headers["Retry-After"]))
    body = {"phone": VICTIM, "code": last_code_sent(), "device_token": device_token}
    assert (await victim.post("/api/v1/auth/token", json=body)).status_code == 200


async def test_new_codes_are_limited_per_phone_whatever_the_client_ip(
    attacker: Attacker, session: Session, clock: FakeClock
) -> None:
    """SMS bombing: asking for a code every minute for an hour (and once more right after each success)
    sends 5, whichever IP the requests seem to come from; every refusal says how long to wait."""
    for minute in range(60):
        response = await attacker.request_code()
        if response.status_code == 200:
            again = await attacker.request_code()  # right away: the 60 s cooldown
            assert (again.status_code, again.json()["code"]) == (429, "rate_limited")
            assert int(again.headers["Retry-After"]) == 60
        else:
            assert response.json()["code"] == "rate_limited"
            # 5 an hour: free again when the first code (minute 0) is an hour old.
            assert int(response.headers["Retry-After"]) == HOUR - 60 * minute
        clock.advance(60)
    assert attacker.sends == {(200, "sent"): 5, (429, "rate_limited"): 5 + 55}
    assert len(CapturingSender.inbox) == 5
    assert (await attacker.request_code()).status_code == 200  # minute 60: the first one has aged out
    nothing_gained(session)


async def test_many_phones_from_one_ip_hit_the_ip_limit(attacker: Attacker, session: Session) -> None:
    """One client asking codes for many phones is stopped at 30 an hour, unless it is behind a trusted
    proxy that forwards a different client IP each time (then per-phone limits are what is left)."""
    statuses = []
    for n in range(40):
        attacker.requests += 1
        xff = attacker.forwarded_for(attacker.requests)
        response = await attacker.client.post(
            "/api/v1/auth/code",
            json={"phone": f"+7912000{n:04d}"},
            headers={"X-Forwarded-For": xff} if xff else {},
        )
        statuses.append(response.status_code)
    session.rollback()
    ips = set(session.exec(select(LoginCode.requester_ip)).all())
    if attacker.network == "rotating-xff-trusted-proxy":
        assert statuses == [200] * 40 and len(ips) == 40  # each forwarded client IP is believed
    else:
        assert statuses == [200] * 30 + [429] * 10 and ips == {ATTACKER_IP}

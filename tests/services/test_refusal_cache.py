"""The refusal cache itself (services/refusal_cache.py): bounded, expiring, thread-safe, and answering exactly
what it was given."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import redis

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings
from referral_app.services import refusal_cache
from referral_app.services.errors import RateLimited
from referral_app.services.refusal_cache import RefusalCache, seconds_until, withdraw_window, withdrawable
from tests.helpers import configure, make_settings
from tests.resilience.conftest import require_redis

T0 = datetime(2026, 12, 2, 12, 0, 0)
PHONE, OTHER = "+79123456789", "+79001112233"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    refusal_cache.forget()
    yield
    refusal_cache.forget()


def test_an_entry_holds_until_its_moment_and_is_then_dropped() -> None:
    cache = RefusalCache(10)
    cache.put(("lock", "+79123456789", ""), at(60), "phone_locked", at(0))
    assert cache.get(("lock", "+79123456789", ""), at(59.999)) == (at(60), "phone_locked")
    assert cache.get(("lock", "+79123456789", ""), at(60)) is None  # the database's `> now`: over at 60
    assert len(cache) == 0


def test_nothing_already_over_is_kept() -> None:
    cache = RefusalCache(10)
    cache.put(("send", "+79123456789"), at(10), "cooldown", at(10))
    assert len(cache) == 0


def test_the_least_recently_used_goes_when_full() -> None:
    cache = RefusalCache(3)
    for n in range(3):
        cache.put(("send", str(n)), at(100), "cooldown", at(0))
    assert cache.get(("send", "0"), at(1)) is not None  # 0 is now the most recently used
    cache.put(("send", "3"), at(100), "cooldown", at(1))
    assert len(cache) == 3
    assert cache.get(("send", "1"), at(2)) is None
    assert [cache.get(("send", k), at(2)) is not None for k in "023"] == [True, True, True]


def test_a_size_of_zero_keeps_nothing() -> None:
    cache = RefusalCache(0)
    cache.put(("send", "x"), at(100), "cooldown", at(0))
    assert len(cache) == 0


def test_forget_drops_one_entry() -> None:
    cache = RefusalCache(10)
    cache.put(("send", "a"), at(100), "cooldown", at(0))
    cache.put(("send", "b"), at(100), "cooldown", at(0))
    cache.forget(("send", "a"))
    cache.forget(("send", "never"))
    assert (cache.get(("send", "a"), at(1)), cache.get(("send", "b"), at(1)) is not None) == (None, True)


def test_threads_putting_at_once_never_exceed_the_bound() -> None:
    cache = RefusalCache(50)
    start = threading.Barrier(8)

    def fill(thread: int) -> None:
        start.wait()
        for n in range(2000):
            cache.put(("send", f"{thread}:{n}"), at(100), "cooldown", at(0))
            cache.get(("send", f"{thread}:{n // 2}"), at(1))

    workers = [threading.Thread(target=fill, args=(t,)) for t in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(cache) == 50


def test_retry_after_is_the_database_paths_rounding() -> None:
    assert seconds_until(at(60), at(0)) == 60
    assert seconds_until(at(60), at(0.001)) == 60  # rounded up
    assert seconds_until(at(60), at(59.5)) == 1
    assert seconds_until(at(60), at(61)) == 1  # never 0


def test_a_cached_lock_answers_with_the_time_left() -> None:
    refusal_cache.remember_lock("+79123456789", "", at(3600), at(0))
    with pytest.raises(RateLimited) as refused:
        refusal_cache.check_lock("+79123456789", ("",), at(100.5))
    assert (refused.value.retry_after, refused.value.reason) == (3500, "phone_locked")
    refusal_cache.check_lock("+79123456789", ("device-1", "*"), at(100))  # other guards: not refused
    refusal_cache.check_lock("+79123456789", ("",), at(3600))  # over exactly at locked_until


def test_a_send_refusal_is_kept_only_once_its_code_is_settled() -> None:
    s = make_settings("sqlite://", sms_delay_min=1.0, sms_delay_max=2.0, sms_timeout_seconds=10.0)
    window = withdraw_window(s).total_seconds()
    assert window == 2.0 + 10.0 + refusal_cache.WITHDRAW_MARGIN_SECONDS
    phone = "+79123456789"
    fresh = refusal_cache.send_refused(
        phone, "cooldown", until=at(60), newest=at(0), now=at(window - 1), settings=s
    )
    assert (fresh.retry_after, fresh.reason) == (60 - (window - 1), "cooldown")
    refusal_cache.check_send(phone, at(window - 1))  # not kept: the code may still be withdrawn
    refusal_cache.send_refused(phone, "cooldown", until=at(60), newest=at(0), now=at(window), settings=s)
    with pytest.raises(RateLimited) as refused:
        refusal_cache.check_send(phone, at(window + 0.5))
    assert (refused.value.retry_after, refused.value.reason) == (math.ceil(60 - window - 0.5), "cooldown")
    refusal_cache.forget_sends(phone)  # a withdraw in this process
    refusal_cache.check_send(phone, at(window + 0.5))


def test_withdrawable_is_the_same_window() -> None:
    s = make_settings("sqlite://", sms_delay_min=0.0, sms_delay_max=0.0, sms_timeout_seconds=5.0)
    window = withdraw_window(s).total_seconds()
    assert withdrawable(at(0), at(window - 0.001), s)
    assert not withdrawable(at(0), at(window), s)


# --- lifting a phone's refusals (an operator ended its lock) -------------------------------------------------


def test_a_lift_drops_the_phones_refusals_and_keeps_none_for_a_while(settings: Settings) -> None:
    now = utcnow()
    refusal_cache.remember_lock(PHONE, "", now + timedelta(hours=1), now)
    refusal_cache.remember_lock(OTHER, "", now + timedelta(hours=1), now)
    refusal_cache.lift(PHONE)
    refusal_cache.check_lock(PHONE, ("",), now)  # gone
    with pytest.raises(RateLimited):
        refusal_cache.check_lock(OTHER, ("",), now)  # another phone's stays
    # A lock read from the database just before the lift is not kept after it.
    refusal_cache.remember_lock(PHONE, "", now + timedelta(hours=1), now)
    refusal_cache.check_lock(PHONE, ("",), now)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_lift_in_another_process_reaches_this_one_through_redis(settings: Settings) -> None:
    url = require_redis()
    configure(settings, reflex_redis_url=url)
    listener = asyncio.create_task(refusal_cache.listen_for_lifts())
    publisher = redis.Redis.from_url(url)
    try:
        while publisher.pubsub_numsub(refusal_cache.LIFT_CHANNEL)[0][1] < 1:  # until this process listens
            await asyncio.sleep(0.05)
        now = utcnow()
        refusal_cache.remember_lock(PHONE, "", now + timedelta(hours=1), now)
        publisher.publish(refusal_cache.LIFT_CHANNEL, PHONE)  # what lift() in another process sends
        while True:
            try:
                refusal_cache.check_lock(PHONE, ("",), utcnow())
                break  # forgotten
            except RateLimited:
                await asyncio.sleep(0.05)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        publisher.close()

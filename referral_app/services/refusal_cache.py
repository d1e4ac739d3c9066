"""Refusals that cannot change before a known moment, kept in this process so that a flood of them is answered
before any database work.

The cache only ever holds a refusal the database gave, until the moment the database's own rule ends it, and
only when nothing — in any process — can lift it earlier. It must never refuse what the database would
allow, and its answer (reason, Retry-After) is the database path's: the same moment, `seconds_until` of the
same clock. A miss, an eviction or an expired entry just means the database decides, as before.

- **A locked phone** (the sign_in_guards row of (phone, device) with `locked_until` in the future). While it
  is locked, every verification for that (phone, device) is refused before anything is evaluated
  (check_verify_allowed, also under the write transaction's locks), and only an evaluated guess writes the
  guard: a wrong one (more failures, a new lock) or the right one (which resets the guard of that device
  only). Nothing else writes `locked_until` but an operator ending the lock, which `lift`s the phone in every
  process (account deletion leaves guards alone; strangers' guard is never reset). So a lock, once committed,
  holds until `locked_until` or its lift, whichever process reads it.
- **A send refused by the phone's cooldown or hourly limit.** It rests on the phone's login_codes rows. No row
  is added while it holds (the write path refuses too), but `withdraw_code` deletes a row whose SMS failed
  in any process. So a send refusal is kept only when the newest row it rests on is
  *settled*: older than `withdraw_window`, past which `withdraw_code` no longer deletes (it checks under the
  phone's lock). Withdraws in this process also drop the phone's entry (`forget_sends`).
- Not cached: the per-requester limits (ip_hourly_limit, verify_ip_limit) and the SMS budgets. They are
  counters that other phones' requests and other processes move both ways (a success takes a verify failure
  back, a withdraw refunds a budget), and a flood from many addresses would not repeat a key anyway.

The clock is core/clock's (a test clock moves the cache's "now" too). Across processes on different hosts,
clock skew is the one gap, as it is for the database path's own "now".
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import OrderedDict
from datetime import datetime, timedelta

import redis
import redis.asyncio as aioredis

from referral_app.core.config import Settings, get_settings
from referral_app.limits import REFUSAL_CACHE_MAX_ENTRIES, WITHDRAW_MARGIN_SECONDS
from referral_app.services.errors import RateLimited

log = logging.getLogger(__name__)

LIFT_QUIET_SECONDS = 10.0  # after a lift, a phone's refusals are not kept (one read just before it may be stale)
LIFT_PUBLISH_TIMEOUT_SECONDS = 2.0

PHONE_LOCKED = "phone_locked"


def seconds_until(moment: datetime, now: datetime) -> int:
    """Retry-After for a refusal that ends at `moment`: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil((moment - now).total_seconds()))


class RefusalCache:
    """A bounded, thread-safe map of key -> (end, reason): the least recently used entry goes when it is
    full, and an entry whose end has come is dropped when it is next looked at."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, ...], tuple[datetime, str]] = OrderedDict()
        self._lifted: OrderedDict[str, float] = OrderedDict()  # phone -> when its refusals were lifted (monotonic)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, key: tuple[str, ...], now: datetime) -> tuple[datetime, str] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= now:  # its moment has come: the database decides again
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple[str, ...], until: datetime, reason: str, now: datetime) -> None:
        if until <= now or self.max_entries <= 0 or self.lifted_lately(key[1], time.monotonic()):
            return
        with self._lock:
            self._entries[key] = (until, reason)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, key: tuple[str, ...]) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def forget_phone(self, phone: str, now: float) -> None:
        """Drop every entry of the phone, and keep none for it for LIFT_QUIET_SECONDS: a refusal read from the
        database just before the change that lifted it must not be kept after it."""
        with self._lock:
            for key in [key for key in self._entries if key[1] == phone]:
                del self._entries[key]
            self._lifted[phone] = now
            self._lifted.move_to_end(phone)
            while len(self._lifted) > self.max_entries:
                self._lifted.popitem(last=False)

    def lifted_lately(self, phone: str, now: float) -> bool:
        with self._lock:
            lifted = self._lifted.get(phone)
            return lifted is not None and now - lifted < LIFT_QUIET_SECONDS

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._lifted.clear()


_cache = RefusalCache(REFUSAL_CACHE_MAX_ENTRIES)


def _refuse(key: tuple[str, ...], now: datetime) -> None:
    entry = _cache.get(key, now)
    if entry is not None:
        until, reason = entry
        raise RateLimited(retry_after=seconds_until(until, now), reason=reason)


# --- a locked phone -------------------------------------------------------------------------------------------


def check_lock(phone: str, keys: tuple[str, ...], now: datetime) -> None:
    """Raise a phone_locked refusal the database gave for (phone, key) of any of the guard keys, while it holds."""
    for key in keys:
        _refuse(("lock", phone, key), now)


def remember_lock(phone: str, device: str, locked_until: datetime, now: datetime) -> None:
    """A committed lock read from the database: it holds until `locked_until` (see the module's docstring)."""
    _cache.put(("lock", phone, device), locked_until, PHONE_LOCKED, now)


# --- a send refused by the phone's cooldown or hourly limit ---------------------------------------------------


def withdraw_window(s: Settings) -> timedelta:
    """How long after a code's row is written its SMS may still fail and withdraw it: the longest simulated
    delay, the provider's timeout, and a margin for a busy server getting to the withdraw."""
    delay = max(s.sms_delay_min, s.sms_delay_max)
    return timedelta(seconds=delay + s.sms_timeout_seconds + WITHDRAW_MARGIN_SECONDS)


def withdrawable(created_at: datetime, now: datetime, s: Settings) -> bool:
    """Whether withdraw_code may still delete a code row: only inside withdraw_window, so that a settled row
    (and a send refusal cached on it, in any process) stays true."""
    return now - created_at < withdraw_window(s)


def check_send(phone: str, now: datetime) -> None:
    """Raise the cooldown or hourly-limit refusal the database gave for sends to this phone, while it holds."""
    _refuse(("send", phone), now)


def send_refused(
    phone: str, reason: str, *, until: datetime, newest: datetime, now: datetime, settings: Settings
) -> RateLimited:
    """The database's refusal of a send that holds until `until` and rests on rows up to `newest` (the phone's
    latest code): kept when those rows are settled, and returned to be raised."""
    if not withdrawable(newest, now, settings):
        _cache.put(("send", phone), until, reason, now)
    return RateLimited(retry_after=seconds_until(until, now), reason=reason)


def forget_sends(phone: str) -> None:
    """A code of the phone was withdrawn: whatever its sends were refused on may be gone."""
    _cache.forget(("send", phone))


# --- lifting a phone's refusals in every process --------------------------------------------------------------

LIFT_CHANNEL = "referral_app:refusals-lifted"  # Redis pub/sub: a phone whose cached refusals must go


def lift(phone: str) -> None:
    """An operator changed what the cache rests on for this phone (ended its lock): drop its refusals here at
    once, and in every other process through Redis when REFLEX_REDIS_URL is set (processes subscribe with
    `listen_for_lifts`). Call it after the change is committed. Without Redis there is one process to tell."""
    _cache.forget_phone(phone, time.monotonic())
    if url := get_settings().reflex_redis_url:
        client = redis.Redis.from_url(url, socket_timeout=LIFT_PUBLISH_TIMEOUT_SECONDS)
        try:
            client.publish(LIFT_CHANNEL, phone)
        finally:
            client.close()


async def listen_for_lifts() -> None:
    """A lifespan task: forget the phones other processes lift. While the subscription is down, lifts may be
    missed, so every refusal kept is dropped when it is back (they are only ever a shortcut)."""
    url = get_settings().reflex_redis_url
    if not url:
        return
    while True:
        client = aioredis.Redis.from_url(url)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(LIFT_CHANNEL)
                _cache.clear()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        _cache.forget_phone(message["data"].decode(), time.monotonic())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("refusal-cache lifts: Redis subscription lost (%s); retrying", type(exc).__name__)
            _cache.clear()
            await asyncio.sleep(1)
        finally:
            await client.aclose()


def forget() -> None:
    """Drop every entry (tests that empty the database or move stored times behind the app's back)."""
    _cache.clear()


def size() -> int:
    return len(_cache)

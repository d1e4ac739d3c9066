"""The metrics module: audited events counted once each and only when kept, label values that cannot carry a
phone or a code, and the multiprocess scrape that forgets the open tabs of dead workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlmodel import Session

from referral_app.core import metrics
from referral_app.core.db import transaction
from referral_app.services import audit
from referral_app.services.audit import Event

PHONE = "+79123456789"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_label_is_an_identifier_or_other() -> None:
    before = sample("referral_app_codes_refused_total", reason="other")
    metrics.code_refused(PHONE)
    metrics.code_refused("1234")
    metrics.code_refused("free text with spaces")
    metrics.code_refused(None)
    assert sample("referral_app_codes_refused_total", reason="other") == before + 4
    assert sample("referral_app_codes_refused_total", reason=PHONE) == 0
    before = sample("referral_app_codes_refused_total", reason="phone_hourly_limit")
    metrics.code_refused("phone_hourly_limit")
    assert sample("referral_app_codes_refused_total", reason="phone_hourly_limit") == before + 1


def test_an_event_counts_when_its_transaction_commits_and_never_when_it_rolls_back(session: Session) -> None:
    before = sample("referral_app_sign_ins_total"), sample("referral_app_verifications_total", result="success")
    with pytest.raises(RuntimeError), transaction(session, write=True):
        audit.record(session, Event.LOGIN, phone=PHONE, user_id=1)
        raise RuntimeError("the sign-in failed after its event was recorded")
    assert (
        sample("referral_app_sign_ins_total"),
        sample("referral_app_verifications_total", result="success"),
    ) == before
    with transaction(session, write=True):
        audit.record(session, Event.LOGIN, phone=PHONE, user_id=1)
        audit.record(session, Event.NEW_USER, phone=PHONE, user_id=1)
        assert sample("referral_app_sign_ins_total") == before[0]  # not yet: not committed
    assert sample("referral_app_sign_ins_total") == before[0] + 1
    assert sample("referral_app_verifications_total", result="success") == before[1] + 1


def test_sms_failures_and_invites_without_their_code(session: Session) -> None:
    failures = sample("referral_app_sms_failures_total")
    invites = sample("referral_app_invite_activations_total")
    audit.record_alone(session, Event.SMS_FAILED, phone=PHONE, detail="smsru: refused; smsc: http 503")
    audit.record_alone(session, Event.INVITE_ACTIVATED, user_id=1, detail="AB12CD")
    assert sample("referral_app_sms_failures_total") == failures + 1
    assert sample("referral_app_invite_activations_total") == invites + 1


def test_every_refusal_counts_though_the_trail_samples_them(session: Session) -> None:
    audit.forget_refusals()
    before = sample("referral_app_verifications_total", result="verify_ip_limit")
    for _ in range(25):
        audit.record_refusal(session, Event.VERIFY_REFUSED, phone=PHONE, detail="verify_ip_limit")
    audit.flush_refusals(session)
    assert sample("referral_app_verifications_total", result="verify_ip_limit") == before + 25
    audit.forget_refusals()


WORKER = """
import sys
from referral_app.core import metrics
metrics.tab_connected()
metrics.tab_connected()
metrics.code_sent()
print("counted", flush=True)
sys.stdin.readline()
"""


def _worker(path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(path), "DEMO_MODE": "true"}
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert worker.stdout is not None and worker.stdout.readline().strip() == "counted"
    return worker


def _scraped(path: Path) -> dict[str, float]:
    return {s.name: s.value for m in metrics.workers_registry(path).collect() for s in m.samples if not s.labels}


def test_the_scrape_sums_the_workers_and_drops_the_tabs_of_dead_ones(tmp_path: Path) -> None:
    first, second = _worker(tmp_path), _worker(tmp_path)
    try:
        scraped = _scraped(tmp_path)
        assert scraped["referral_app_websocket_tabs"] == 4
        assert scraped["referral_app_codes_sent_total"] == 2
        first.kill()
        first.wait()
        scraped = _scraped(tmp_path)
        assert scraped["referral_app_websocket_tabs"] == 2  # the dead worker's tabs are gone with it
        assert scraped["referral_app_codes_sent_total"] == 2  # what it counted happened
        assert metrics.mark_dead_workers(tmp_path) == []  # marked once, by the scrape
    finally:
        for worker in (first, second):
            worker.kill()
            worker.wait()

"""Invite codes and referrals: normalisation, activation rules, cycles, races, code collisions."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from referral_app.core.config import Settings
from referral_app.limits import REFERRALS_PAGE_MAX
from referral_app.models import User
from referral_app.services import auth, login_codes, referrals, users
from referral_app.services.errors import (
    InviteAlreadyActivated,
    InviteCodeNotFound,
    OwnInviteCode,
    ReferralCycle,
    ServiceError,
)
from referral_app.services.users import get_or_create_user
from tests.helpers import configure


def make_user(session: Session, n: int) -> User:
    user, created = get_or_create_user(session, phone=f"+7912{n:07d}")
    session.commit()
    assert created
    return user


def test_invite_codes_are_six_unambiguous_characters(session: Session) -> None:
    codes = {make_user(session, n).invite_code for n in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{6}", code), code


@pytest.mark.parametrize(
    ("typed", "expected"),
    [(" ab3-k7z ", "AB3K7Z"), ("o0 il1", "00111"), ("A B-C", "ABC"), ("", "")],
)
def test_typed_codes_are_normalised(typed: str, expected: str) -> None:
    assert referrals.normalize_invite_code(typed) == expected


def test_activation_links_the_two_users(session: Session) -> None:
    alice, bob = make_user(session, 1), make_user(session, 2)
    typed = "-".join([alice.invite_code[:3].lower(), alice.invite_code[3:]])
    profile = referrals.activate_invite(session, user_id=bob.id, invite_code=typed)
    assert profile.activated_invite_code == alice.invite_code
    assert profile.invited_by == alice.phone
    alice_profile = users.get_profile(session, user_id=alice.id)
    assert [r.phone for r in alice_profile.referrals] == [bob.phone]
    assert alice_profile.referrals_count == 1


def test_lookalike_letters_find_the_code(session: Session) -> None:
    alice, bob = make_user(session, 1), make_user(session, 2)
    session.execute(sa.update(User).where(User.id == alice.id).values(invite_code="A0B1C1"))
    session.commit()
    assert (
        referrals.activate_invite(session, user_id=bob.id, invite_code="aobicl").activated_invite_code == "A0B1C1"
    )


def test_unknown_code(session: Session) -> None:
    bob = make_user(session, 2)
    # NUL made PostgreSQL refuse the lookup (a 500); codes outside the alphabet are not looked up at all.
    for typed in ("ZZZZZZ", "", "!!!!", "AB\x00CD", "😀" * 6, "'; DROP TABLE users; --", "ÄÖÜ123"):
        with pytest.raises(InviteCodeNotFound) as caught:
            referrals.activate_invite(session, user_id=bob.id, invite_code=typed)
        assert caught.value.status_code == 404


def test_own_code(session: Session) -> None:
    bob = make_user(session, 2)
    with pytest.raises(OwnInviteCode) as caught:
        referrals.activate_invite(session, user_id=bob.id, invite_code=bob.invite_code)
    assert caught.value.status_code == 400


def test_only_once_ever(session: Session) -> None:
    alice, bob, carol = make_user(session, 1), make_user(session, 2), make_user(session, 3)
    referrals.activate_invite(session, user_id=bob.id, invite_code=alice.invite_code)
    for code in (carol.invite_code, alice.invite_code):
        with pytest.raises(InviteAlreadyActivated) as caught:
            referrals.activate_invite(session, user_id=bob.id, invite_code=code)
        assert caught.value.status_code == 409
    assert users.get_profile(session, user_id=bob.id).activated_invite_code == alice.invite_code


def test_direct_and_longer_cycles_are_refused(session: Session) -> None:
    a, b, c, d = (make_user(session, n) for n in range(1, 5))
    referrals.activate_invite(session, user_id=b.id, invite_code=a.invite_code)  # a invited b
    with pytest.raises(ReferralCycle):
        referrals.activate_invite(session, user_id=a.id, invite_code=b.invite_code)  # A→B→A
    referrals.activate_invite(session, user_id=c.id, invite_code=b.invite_code)  # b invited c
    referrals.activate_invite(session, user_id=d.id, invite_code=c.invite_code)  # c invited d
    with pytest.raises(ReferralCycle) as caught:
        referrals.activate_invite(session, user_id=a.id, invite_code=d.invite_code)  # A→B→C→D→A
    assert caught.value.status_code == 409
    # Someone outside the subtree is fine.
    e = make_user(session, 5)
    assert referrals.activate_invite(session, user_id=a.id, invite_code=e.invite_code).invited_by == e.phone


def _parallel(engine, calls):  # type: ignore[no-untyped-def]
    """Run the calls at the same moment, each on its own session; return each result or error code."""
    barrier = threading.Barrier(len(calls))

    def run(call):  # type: ignore[no-untyped-def]
        with Session(engine, expire_on_commit=False) as s:
            barrier.wait()
            try:
                call(s)
                return "ok"
            except ServiceError as err:
                return err.code

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_parallel_activations_by_one_user_give_one_referrer(engine, session: Session) -> None:  # type: ignore[no-untyped-def]
    me = make_user(session, 0)
    owners = [make_user(session, n) for n in range(1, 51)]
    results = _parallel(
        engine,
        [
            lambda s, code=o.invite_code: referrals.activate_invite(s, user_id=me.id, invite_code=code)
            for o in owners
        ],
    )
    assert results.count("ok") == 1
    assert results.count("invite_already_activated") == 49
    referrer = session.exec(select(User.referrer_id).where(User.id == me.id)).one()
    assert referrer in {o.id for o in owners}


def test_mutual_activation_at_once_lets_at_most_one_through(engine, session: Session) -> None:  # type: ignore[no-untyped-def]
    for round_ in range(5):
        a, b = make_user(session, 100 + 2 * round_), make_user(session, 101 + 2 * round_)
        results = _parallel(
            engine,
            [
                lambda s, a=a, b=b: referrals.activate_invite(s, user_id=a.id, invite_code=b.invite_code),
                lambda s, a=a, b=b: referrals.activate_invite(s, user_id=b.id, invite_code=a.invite_code),
            ],
        )
        assert sorted(results) == ["ok", "referral_cycle"]
    _assert_no_cycles(session)


def test_concurrent_edges_cannot_close_a_long_cycle(engine, session: Session) -> None:  # type: ignore[no-untyped-def]
    # b→a and d→c exist (b invited by a...), then a takes d's code while c takes b's code, at once:
    # each is fine alone, together they would close a→d→c→b→a.
    a, b, c, d = (make_user(session, n) for n in range(1, 5))
    referrals.activate_invite(session, user_id=b.id, invite_code=a.invite_code)
    referrals.activate_invite(session, user_id=d.id, invite_code=c.invite_code)
    results = _parallel(
        engine,
        [
            lambda s: referrals.activate_invite(s, user_id=a.id, invite_code=d.invite_code),
            lambda s: referrals.activate_invite(s, user_id=c.id, invite_code=b.invite_code),
        ],
    )
    assert sorted(results) == ["ok", "referral_cycle"]
    _assert_no_cycles(session)


def _assert_no_cycles(session: Session) -> None:
    parent = dict(session.exec(select(User.id, User.referrer_id)).all())
    for start in parent:
        seen, node = set(), start
        while node is not None:
            assert node not in seen, f"cycle through user {node}"
            seen.add(node)
            node = parent[node]


def test_forced_invite_code_collisions_still_give_unique_codes(
    engine, session: Session, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    configure(settings, invite_code_alphabet="AB", invite_code_length=6)  # only 64 possible codes
    created = [make_user(session, n) for n in range(30)]
    assert len({u.invite_code for u in created}) == 30
    # Also under concurrency: first logins racing for the few free codes.
    codes = {
        f"+7913{n:07d}": login_codes.issue_code(session, phone=f"+7913{n:07d}", client_ip=None) for n in range(10)
    }
    results = _parallel(
        engine,
        [
            lambda s, phone=phone, code=code: auth.login_with_code(s, phone=phone, code=code)
            for phone, code in codes.items()
        ],
    )
    assert results == ["ok"] * 10
    codes = session.exec(select(User.invite_code)).all()
    assert len(codes) == len(set(codes)) == 40


def test_referral_list_pages_newest_first(session: Session) -> None:
    owner = make_user(session, 0)
    for n in range(1, 8):
        referrals.activate_invite(session, user_id=make_user(session, n).id, invite_code=owner.invite_code)
    page = users.list_referrals(session, user_id=owner.id, limit=3, offset=0)
    assert page.total == 7 and page.limit == 3 and page.offset == 0
    assert [r.phone for r in page.items] == [f"+7912{n:07d}" for n in (7, 6, 5)]
    last = users.list_referrals(session, user_id=owner.id, limit=3, offset=6)
    assert [r.phone for r in last.items] == ["+79120000001"]
    assert users.list_referrals(session, user_id=owner.id, limit=10_000).limit == REFERRALS_PAGE_MAX


def test_profile_reads_use_a_constant_number_of_queries(engine, session: Session) -> None:  # type: ignore[no-untyped-def]
    owner = make_user(session, 0)
    owner_id, owner_code = owner.id, owner.invite_code
    statements: list[str] = []

    def count(*args) -> None:  # type: ignore[no-untyped-def]
        statements.append(args[2])

    def queries_for_profile() -> int:
        statements.clear()
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            users.get_profile(session, user_id=owner_id)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    selects = lambda: len([q for q in statements if q.lstrip().upper().startswith("SELECT")])  # noqa: E731
    queries_for_profile()
    assert selects() == 1  # the profile row says there are no referrals: no page to read
    referrals.activate_invite(session, user_id=make_user(session, 1).id, invite_code=owner_code)
    baseline = queries_for_profile()
    assert selects() == 2  # the profile row (with its referral count) and the newest referrals
    for n in range(2, 121):
        referrals.activate_invite(session, user_id=make_user(session, n).id, invite_code=owner_code)
    profile = users.get_profile(session, user_id=owner_id)
    assert profile.referrals_count == 120 and len(profile.referrals) == 100
    assert queries_for_profile() == baseline, statements


def test_parallel_first_logins_get_distinct_invite_codes(engine, session: Session) -> None:  # type: ignore[no-untyped-def]
    phones = [f"+7914{n:07d}" for n in range(20)]
    codes = {phone: login_codes.issue_code(session, phone=phone, client_ip=None) for phone in phones}
    results = _parallel(
        engine,
        [
            lambda s, phone=phone, code=code: auth.login_with_code(s, phone=phone, code=code)
            for phone, code in codes.items()
        ],
    )
    assert results == ["ok"] * 20
    rows = session.exec(select(User.phone, User.invite_code)).all()
    assert sorted(phone for phone, _ in rows) == phones
    assert len({code for _, code in rows}) == 20


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_profile_counts_referrals_by_the_index_when_few_invited_everyone(session: Session) -> None:
    """Two users invited 4,998 others: ANALYZE then sees two distinct referrer_id values, and without the
    migration's n_distinct override PostgreSQL counted a user's referrals in GET /profile's one statement by
    scanning the whole table, for every profile read."""
    owners = [make_user(session, n) for n in range(2)]
    session.execute(
        sa.insert(User),
        [
            {"phone": f"+7913{n:07d}", "invite_code": f"Q{n:05d}", "referrer_id": owners[n % 2].id}
            for n in range(4_998)
        ],
    )
    session.commit()

    def plan() -> str:
        session.execute(sa.text("ANALYZE users"))
        compiled = auth._PROFILE_BY_TOKEN.statement.compile(session.get_bind())
        rows = session.connection().exec_driver_sql("EXPLAIN " + str(compiled), {"token_hash": "any"})
        return "\n".join(row[0] for row in rows)

    planned = plan()
    assert "Seq Scan on users referred" not in planned
    assert "ix_users_referrer_id_activated_at" in planned  # an index scan (plain, index-only or bitmap)
    session.execute(sa.text("ALTER TABLE users ALTER COLUMN referrer_id RESET (n_distinct)"))
    try:
        assert "Seq Scan on users referred" in plan()  # what the override prevents
    finally:
        session.execute(sa.text("ALTER TABLE users ALTER COLUMN referrer_id SET (n_distinct = -0.05)"))
        session.execute(sa.text("ANALYZE users"))
        session.commit()

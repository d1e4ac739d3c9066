"""The database invariants that must hold whatever happened to the server (a crash, an outage, races)."""

from __future__ import annotations

import sqlalchemy as sa


def check_invariants(url: str) -> dict[str, int]:
    """Assert what no crash may break, and return row counts.

    - every user has an invite code, and invite codes (and phones) are unique;
    - referrer_id and invite_activated_at are both set or both empty; nobody refers themselves;
    - the referral graph has no cycles;
    - every login code row is complete (phone, HMAC, created/expires in order, attempts in range);
    - every token row is complete and points at an existing user;
    - logging in is atomic: every user (users are only created by a login) has a token and a consumed code,
      and every consumed code belongs to a registered phone."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            q = lambda sql: conn.execute(sa.text(sql)).all()  # noqa: E731
            assert q("SELECT id FROM users WHERE invite_code IS NULL OR invite_code = ''") == []
            assert q("SELECT invite_code FROM users GROUP BY invite_code HAVING COUNT(*) > 1") == []
            assert q("SELECT phone FROM users GROUP BY phone HAVING COUNT(*) > 1") == []
            assert (
                q(
                    "SELECT id FROM users WHERE (referrer_id IS NULL) <> (invite_activated_at IS NULL)"
                    " OR referrer_id = id"
                )
                == []
            )
            referrer = dict(q("SELECT id, referrer_id FROM users"))
            for start in referrer:
                seen, node = set(), start
                while node is not None:
                    assert node not in seen, f"referral cycle through user {node}"
                    seen.add(node)
                    node = referrer.get(node)
            assert (
                q(
                    "SELECT id FROM login_codes WHERE phone IS NULL OR phone = '' OR code_hmac IS NULL"
                    " OR length(code_hmac) <> 64 OR created_at IS NULL OR expires_at IS NULL"
                    " OR expires_at <= created_at OR attempts < 0 OR attempts > 5"
                    " OR (consumed_at IS NOT NULL AND consumed_at < created_at)"
                )
                == []
            )
            assert (
                q(
                    "SELECT t.id FROM auth_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE u.id IS NULL"
                    " OR length(t.token_hash) <> 64 OR t.expires_at <= t.created_at"
                )
                == []
            )
            assert (
                q("SELECT u.id FROM users u WHERE NOT EXISTS (SELECT 1 FROM auth_tokens t WHERE t.user_id = u.id)")
                == []
            )
            assert (
                q(
                    "SELECT u.id FROM users u WHERE NOT EXISTS"
                    " (SELECT 1 FROM login_codes c WHERE c.phone = u.phone AND c.consumed_at IS NOT NULL)"
                )
                == []
            )
            assert (
                q(
                    "SELECT c.id FROM login_codes c WHERE c.consumed_at IS NOT NULL"
                    " AND NOT EXISTS (SELECT 1 FROM users u WHERE u.phone = c.phone)"
                )
                == []
            )
            return {
                table: conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                for table in ("users", "login_codes", "auth_tokens", "sign_in_guards")
            }
    finally:
        engine.dispose()

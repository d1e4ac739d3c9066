"""Reflex internals the browser tests look at (reflex 0.10.1): its websocket records in Redis."""

from __future__ import annotations

import pickle

import redis

REFLEX_SOCKET_RECORD = "token_manager_socket_record_{}"  # reflex.utils.token_manager.RedisTokenManager


def reflex_socket_owner(redis_url: str, session: str) -> str | None:
    """The Reflex instance (one per server worker process) holding the websocket of a browser session."""
    client = redis.Redis.from_url(redis_url)
    try:
        record = client.get(REFLEX_SOCKET_RECORD.format(session))
    finally:
        client.close()
    return pickle.loads(record).instance_id if record else None  # our own Redis


def forget_reflex_sockets(redis_url: str, *sessions: str) -> None:
    """Remove the websocket records of browser sessions, as a clean shutdown of their server does."""
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(*(REFLEX_SOCKET_RECORD.format(session) for session in sessions))
    finally:
        client.close()

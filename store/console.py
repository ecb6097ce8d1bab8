"""The console's sign-in sessions and the progress of the jobs it starts, in Redis.

`gw:console:session:SHA256` is a hash (role, csrf, created_ms, token: a short hash of the token it was made with)
living as long as the session: only the SHA-256 of the cookie is kept, so a copy of Redis signs nobody in.
`gw:console:sessions-since` holds when an admin last signed every session out (ms): older sessions are refused.
`gw:console:job:ID` is a hash (kind, state, done, total, message, ...) a background job updates as it goes and a
page polls; it expires an hour after its last update.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import cast

import redis

from store.keys import Keyspace
from store.redis_client import available

JOB_TTL_S = 3600


@dataclass(frozen=True)
class Session:
    role: str
    csrf: str
    created_ms: int
    token: str  # which token it was made with (a short hash: sessions end when the token changes)
    valid_since_ms: int = 0  # sessions made before this were signed out everywhere


class ConsoleSessions:
    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self.client = client
        self.keys = keys

    def key(self, token: str) -> str:
        return self.keys.key("console", "session", hashlib.sha256(token.encode()).hexdigest())

    @property
    def since_key(self) -> str:
        return self.keys.key("console", "sessions-since")

    def create(self, role: str, ttl_s: int, made_with: str) -> tuple[str, Session]:
        """A new session of `role` ending in `ttl_s`, made with the token whose short hash is `made_with`: its
        cookie value and the session."""
        token = secrets.token_urlsafe(32)
        session = Session(role, secrets.token_urlsafe(24), int(time.time() * 1000), made_with)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.key(token), mapping={"role": role, "csrf": session.csrf, "created_ms": session.created_ms,
                                            "token": made_with})
        pipe.expire(self.key(token), ttl_s)
        available(pipe.execute)
        return token, session

    def get(self, token: str) -> Session | None:
        """The session and, in the same round trip, when sessions were last ended everywhere."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.key(token))
        pipe.get(self.since_key)
        data, since = available(pipe.execute)
        if not data:
            return None
        return Session(data["role"], data["csrf"], int(data["created_ms"]), data.get("token", ""), int(since or 0))

    def end(self, token: str) -> None:
        available(lambda: self.client.delete(self.key(token)))

    def end_all(self) -> None:
        """Every session made until now is refused from now on (sign out everywhere)."""
        available(lambda: self.client.set(self.since_key, int(time.time() * 1000)))


class ConsoleJobs:
    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self.client = client
        self.keys = keys

    def key(self, job_id: str) -> str:
        return self.keys.key("console", "job", job_id)

    def start(self, kind: str, **fields: object) -> str:
        job_id = secrets.token_hex(8)
        self.update(job_id, kind=kind, state="running", started_ms=int(time.time() * 1000), **fields)
        return job_id

    def update(self, job_id: str, **fields: object) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.key(job_id), mapping={k: str(v) for k, v in fields.items()})
        pipe.expire(self.key(job_id), JOB_TTL_S)
        available(pipe.execute)

    def get(self, job_id: str) -> dict[str, str] | None:
        return available(lambda: cast(dict[str, str], self.client.hgetall(self.key(job_id)))) or None

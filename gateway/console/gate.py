"""Who may use the console: the admin token (or `[admin] viewer_token`, read-only) exchanged for a session.

A session lives in Redis (`store/console.py`) for `[admin] session_ttl_s`, named by a random cookie; each has its
own CSRF token that every form and every script's POST carries. Sign-in attempts are limited per client address
(`[admin] sign_ins_per_minute`), so the tokens cannot be guessed through the form.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from gateway.errors import GatewayError
from store.console import ConsoleSessions, Session
from store.ratelimit import RateLimiter

ADMIN, VIEWER = "admin", "viewer"


class SignInRefused(GatewayError):
    status = 401
    code = "unauthorized"


class TooManySignIns(GatewayError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many sign-in attempts from this address: try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Tokens:
    admin: str
    viewer: str
    session_ttl_s: int
    sign_ins_per_minute: int


class Gate:
    def __init__(self, sessions: ConsoleSessions, limiter: RateLimiter, tokens: Tokens) -> None:
        self.sessions = sessions
        self.limiter = limiter
        self.tokens = tokens

    def sign_in(self, token: str, address: str) -> tuple[str, Session]:
        """A new session (cookie value, session) for the admin or viewer token; SignInRefused, TooManySignIns."""
        hit = self.limiter.hit("console-sign-in", address)
        if hit.count > self.tokens.sign_ins_per_minute:
            raise TooManySignIns(hit.retry_after_s)
        role = next((role for role, expected in ((ADMIN, self.tokens.admin), (VIEWER, self.tokens.viewer))
                     if expected and hmac.compare_digest(token.strip().encode(), expected.encode())), None)
        if role is None:
            raise SignInRefused("that token is neither the admin token nor the viewer token")
        return self.sessions.create(role, self.tokens.session_ttl_s)

    def session(self, cookie: str | None) -> Session | None:
        return self.sessions.get(cookie) if cookie else None

    def sign_out(self, cookie: str | None) -> None:
        if cookie:
            self.sessions.end(cookie)

    @staticmethod
    def csrf_ok(session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), session.csrf.encode())

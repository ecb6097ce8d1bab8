"""Who may use the console: the admin token (or `[admin] viewer_token`, read-only) exchanged for a session.

A session lives in Redis (`store/console.py`) for `[admin] session_ttl_s`, named by a random cookie; each has its
own CSRF token that every form and every script's POST carries. Sign-in attempts are limited per client address
(`[admin] sign_ins_per_minute`, the address by `routes/clients.py`), so the tokens cannot be guessed through the
form. A session remembers which token made it (a short hash): once that token changes, the session is refused; an
admin can end every session at once; signing in again ends the session the browser held.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from gateway.errors import RateLimited, Unauthorized
from store.console import ConsoleSessions, Session
from store.ratelimit import RateLimiter

ADMIN, VIEWER = "admin", "viewer"


class SignInRefused(Unauthorized):
    """The token is neither the admin token nor the viewer token."""


class TooManySignIns(RateLimited):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many sign-in attempts from this address: try again in {retry_after_s} s",
                         retry_after_s)


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

    def sign_in(self, token: str, address: str, replacing: str | None = None) -> tuple[str, Session]:
        """A new session (cookie value, session) for the admin or viewer token, ending the session of the cookie it
        replaces; SignInRefused, TooManySignIns."""
        hit = self.limiter.hit("console-sign-in", address)
        if hit.count > self.tokens.sign_ins_per_minute:
            raise TooManySignIns(hit.retry_after_s)
        role = next((role for role, expected in self._roles()
                     if expected and hmac.compare_digest(token.strip().encode(), expected.encode())), None)
        if role is None:
            raise SignInRefused("that token is neither the admin token nor the viewer token")
        self.sign_out(replacing)
        return self.sessions.create(role, self.tokens.session_ttl_s, self._made_with(role))

    def session(self, cookie: str | None) -> Session | None:
        """The cookie's session, while its token is still the role's token and no admin ended it everywhere."""
        if not cookie:
            return None
        found = self.sessions.get(cookie)
        if found is None:
            return None
        if found.created_ms < found.valid_since_ms or not hmac.compare_digest(found.token, self._made_with(found.role)):
            self.sessions.end(cookie)
            return None
        return found

    def sign_out(self, cookie: str | None) -> None:
        if cookie:
            self.sessions.end(cookie)

    def sign_out_everywhere(self) -> None:
        self.sessions.end_all()

    def _roles(self) -> tuple[tuple[str, str], ...]:
        return (ADMIN, self.tokens.admin), (VIEWER, self.tokens.viewer)

    def _made_with(self, role: str) -> str:
        """A short hash of the role's current token: a session made with another token is over."""
        token = dict(self._roles()).get(role, "")
        return hashlib.sha256(b"gateway console session\0" + token.encode()).hexdigest()[:16] if token else "-"

    @staticmethod
    def csrf_ok(session: Session, given: str | None) -> bool:
        if not given:
            return False
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), session.csrf.encode())

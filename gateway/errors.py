"""Domain errors of the gateway. They carry no HTTP status: `routes/errors.py` is the one table that says what a
client is told of each."""

from __future__ import annotations

from collections.abc import Iterator


class GatewayError(Exception):
    """Root of the gateway's own errors."""


class ValidationError(GatewayError):
    """Input that breaks a rule; names the field so the caller can fix it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Unauthorized(GatewayError):
    """The caller's credential is missing, or not the one asked for."""


class RateLimited(GatewayError):
    """The caller asked more often than a limit allows; it may try again in `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it wraps (cause, context, urllib3's `reason`, exceptions in args), each once."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]

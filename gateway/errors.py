"""Domain errors of the gateway; the admin API renders each as JSON with its own status."""

from __future__ import annotations

from collections.abc import Iterator


class GatewayError(Exception):
    """Root of the gateway's own errors."""

    status = 500
    code = "internal"


class ValidationError(GatewayError):
    """Input that breaks a rule; names the field so the caller can fix it."""

    status = 400
    code = "invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it wraps (cause, context, urllib3's `reason`, exceptions in args), each once."""
    seen, todo = set(), [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]

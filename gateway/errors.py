"""Domain errors of the gateway; the admin API renders each as JSON with its own status."""

from __future__ import annotations


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

"""Every error the store layer raises derives from StoreError; driver exceptions stop at this boundary."""


class StoreError(Exception):
    """Root of the store layer's errors."""


class StoreUnavailable(StoreError):
    """Redis or PostgreSQL did not answer (down, restarting, or out of connections)."""


class NotFound(StoreError):
    """The row or key asked for does not exist."""


class Conflict(StoreError):
    """The change breaks a uniqueness or state rule (duplicate slug, pair limit, ...)."""


class BadValue(StoreError):
    """PostgreSQL cannot hold the row (a NUL character or lone surrogate in text, a number out of range, a
    broken constraint): bad input, refused alone."""

"""The one place Redis keys are spelled: every key the gateway writes starts with its prefix (default `gw:`).

A store module asks its `Keyspace` for keys instead of formatting them: `keys.key("lock", name)` is
`gw:lock:NAME`; `keys.tagged("pool", "ready", cc)` is `gw:{pool}:ready:CC`, whose `{pool}` hash tag puts every
key a Lua script touches on one Redis Cluster slot. The README's key table lists what each module keeps.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keyspace:
    prefix: str

    def key(self, *parts: object) -> str:
        """`PREFIX` + the parts joined by `:`."""
        return self.prefix + ":".join(map(str, parts))

    def tagged(self, tag: str, *parts: object) -> str:
        """`PREFIX{TAG}:` + the parts joined by `:`: keys sharing a tag share a Redis Cluster slot."""
        return f"{self.prefix}{{{tag}}}:" + ":".join(map(str, parts))

    def pattern(self, *parts: object) -> str:
        """A SCAN pattern for the keys under these parts (`*` for everything under the prefix)."""
        return self.key(*parts, "*") if parts else self.prefix + "*"

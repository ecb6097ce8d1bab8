"""`gw:offers:changed`: the pub/sub channel on which a changed offer's slug travels to every process, so that
each drops its cached copy at once (`*`: drop them all)."""

from __future__ import annotations

from collections.abc import Callable

import redis

from store.keys import Keyspace
from store.pubsub import Subscription
from store.redis_client import available

EVERYTHING = "*"


class OfferChanges:
    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self.client = client
        self.channel = keys.key("offers", "changed")

    def publish(self, slug: str) -> None:
        """Tell every process `slug` changed."""
        available(lambda: self.client.publish(self.channel, slug))

    def subscription(self, on_change: Callable[[str], None]) -> Subscription:
        """Calls `on_change(slug)` for each change; `on_change("*")` after a reconnect (changes were missed)."""
        return Subscription(self.client, self.channel, on_change, lambda: on_change(EVERYTHING))

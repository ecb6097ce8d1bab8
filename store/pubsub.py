"""One Redis pub/sub subscription per process and channel, resubscribing after Redis restarts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

import gevent
import gevent.event
import redis

log = logging.getLogger(__name__)


class Subscription:
    """Call `on_message(data)` for every message on `channel`, in a greenlet, until `stop()`. After a
    reconnect `on_reconnect()` runs, since messages sent meanwhile are lost."""

    def __init__(self, client: redis.Redis, channel: str, on_message: Callable[[str], None],
                 on_reconnect: Callable[[], None] = lambda: None) -> None:
        self.client = client
        self.channel = channel
        self.on_message = on_message
        self.on_reconnect = on_reconnect
        self._greenlet: gevent.Greenlet | None = None
        self._subscribed = gevent.event.Event()

    @property
    def listening(self) -> bool:
        return self._greenlet is not None and not self._greenlet.dead

    def start(self, timeout: float = 2.0) -> bool:
        """Subscribe in the background; returns once subscribed (True) or after `timeout` (False)."""
        if not self.listening:
            self._subscribed.clear()
            self._greenlet = gevent.spawn(self._listen)
            self._greenlet.link_exception(lambda g: log.error("subscription to %s crashed: %r", self.channel,
                                                              g.exception))
        return cast(bool, self._subscribed.wait(timeout))  # gevent is untyped

    def stop(self) -> None:
        if self._greenlet:
            self._greenlet.kill()
            self._greenlet = None

    def _listen(self) -> None:
        backoff, first = 0.1, True
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                pubsub.get_message(timeout=1.0)  # the subscribe confirmation: the channel is live
                self._subscribed.set()
                if not first:
                    self.on_reconnect()
                first, backoff = False, 0.1
                for message in pubsub.listen():  # type: ignore[no-untyped-call]  # unannotated in redis-py
                    self.on_message(str(message["data"]))
            except (redis.ConnectionError, redis.TimeoutError):
                self._subscribed.clear()
                gevent.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                pubsub.close()

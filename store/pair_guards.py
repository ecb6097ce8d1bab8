"""Per-pair guards in Redis, shared by every gateway process: duplicate postbacks, and single flight of pair
updates (a postback arriving during an update causes exactly one more update afterwards).

Keys (all under the pair's own hash tag, so each script runs on one Redis Cluster slot):
`gw:{pair:ID}:busy` the update lock, `gw:{pair:ID}:again` one more update wanted, `gw:{pair:ID}:fresh` the
pair was updated within its offer's interval (throttle), `gw:{pair:ID}:click:HASH` a click id seen within the
duplicate window.
"""

from __future__ import annotations

import hashlib

import redis

from store.redis_client import available, register_script


class PairGuards:
    def __init__(self, client: redis.Redis, prefix: str, lock_ms: int, window_s: int) -> None:
        self.client = client
        self.prefix = prefix
        self.lock_ms = lock_ms
        self.window_s = window_s
        self._claim = register_script(client, "pair_claim")
        self._finish = register_script(client, "pair_finish")
        self._first = register_script(client, "pair_first_click")

    def _key(self, pair_id: int, name: str) -> str:
        return f"{self.prefix}{{pair:{pair_id}}}:{name}"

    def first_time(self, pair_id: int, click_id: str, event_id: int) -> bool:
        digest = hashlib.sha1(click_id.encode("utf-8")).hexdigest()
        keys = [self._key(pair_id, f"click:{digest}")]
        return bool(available(lambda: self._first(keys=keys, args=[event_id, self.window_s])))

    def _keys(self, pair_id: int) -> list[str]:
        return [self._key(pair_id, "busy"), self._key(pair_id, "again"), self._key(pair_id, "fresh")]

    def claim(self, pair_id: int, holder: str, force: bool) -> str:
        """`run` (the caller updates the pair), `coalesced` (into the running update) or `throttled`."""
        return available(lambda: self._claim(keys=self._keys(pair_id), args=[holder, self.lock_ms, int(force)]))

    def finish(self, pair_id: int, holder: str, fresh_ms: int) -> bool:
        """End an update (fresh for `fresh_ms` when it succeeded); True when one more update is wanted."""
        args = [holder, self.lock_ms, fresh_ms]
        return available(lambda: self._finish(keys=self._keys(pair_id), args=args)) == 1

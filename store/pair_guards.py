"""Per-pair guards in Redis, shared by every gateway process: duplicate postbacks, and single flight of pair
updates (a postback arriving during an update causes exactly one more update afterwards).

Keys (all under the pair's own hash tag, so each script runs on one Redis Cluster slot):
`gw:{pair:ID}:busy` the update lock, `gw:{pair:ID}:again` one more update wanted, `gw:{pair:ID}:fresh` the
pair was updated within its offer's interval (throttle), `gw:{pair:ID}:click:HASH` a click id seen within the
duplicate window.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple, cast

import redis

from store.keys import Keyspace
from store.redis_client import available, register_script


class Decision(NamedTuple):
    pair_id: int
    click_id: str | None
    event_id: int
    holder: str
    force: bool


class PairGuards:
    def __init__(self, client: redis.Redis, keys: Keyspace, lock_ms: int, window_s: int) -> None:
        self.client = client
        self.keys = keys
        self.lock_ms = lock_ms
        self.window_s = window_s
        self._decide = register_script(client, "pair_decide")
        self._finish = register_script(client, "pair_finish")

    def _key(self, pair_id: int, name: str) -> str:
        return self.keys.tagged(f"pair:{pair_id}", name)

    def decide(self, postbacks: list[Decision]) -> list[str]:
        """For each postback, in one round trip: `duplicate`, `throttled`, `coalesced` (into the running
        update) or `run` (its caller updates the pair)."""
        pipe = self.client.pipeline(transaction=False)
        for pair_id, click_id, event_id, holder, force in postbacks:
            keys = [self._key(pair_id, "busy"), self._key(pair_id, "again"), self._key(pair_id, "fresh")]
            if click_id:
                keys.append(self._key(pair_id, f"click:{hashlib.sha1(click_id.encode('utf-8')).hexdigest()}"))
            self._decide(keys=keys, args=[holder, self.lock_ms, int(force), event_id, self.window_s], client=pipe)
        return available(pipe.execute)

    def finish(self, pair_id: int, holder: str, fresh_ms: int) -> bool:
        """End an update (fresh for `fresh_ms` when it succeeded); True when one more update is wanted."""
        keys = [self._key(pair_id, "busy"), self._key(pair_id, "again"), self._key(pair_id, "fresh")]
        return cast(int, available(lambda: self._finish(keys=keys, args=[holder, self.lock_ms, fresh_ms]))) == 1

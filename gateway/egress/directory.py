"""Inventory rows by id, cached in the process, so a lease finds its slot's address without a PostgreSQL round
trip."""

from __future__ import annotations

import time
from collections.abc import Iterable

import gevent.lock

from store.errors import StoreUnavailable
from store.inventory import Inventory, Slot

DIRECTORY_TTL_S = 30.0


class SlotDirectory:
    """Refreshed on a miss or when stale, by one greenlet at a time; while PostgreSQL is down the stale rows keep
    serving."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._slots: dict[str, Slot] = {}
        self._loaded = -DIRECTORY_TTL_S
        self._refreshing = gevent.lock.Semaphore()

    def replace(self, slots: Iterable[Slot]) -> None:
        self._slots = {slot.id: slot for slot in slots}
        self._loaded = time.monotonic()

    def _fresh(self) -> bool:
        return time.monotonic() - self._loaded < DIRECTORY_TTL_S

    def get(self, slot_id: str) -> Slot | None:
        known = slot_id in self._slots
        if known and (self._fresh() or self._refreshing.locked()):
            return self._slots[slot_id]
        with self._refreshing:
            if slot_id not in self._slots or not self._fresh():
                try:
                    self.replace(self.inventory.all())
                except StoreUnavailable:
                    if not known:
                        raise
        return self._slots.get(slot_id)

"""Group commit: writes (or any round trips) that arrive while one is under way go together in the next one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import gevent
import gevent.event

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """`submit(item)` returns once `write(batch)` has stored the batch holding `item`, with that item's result
    (or raises the batch's error). Nothing waits on purpose: an item alone is a batch of one; under load
    batches grow, so each item costs the store a fraction of a round trip."""

    def __init__(self, write: Callable[[list[Item]], Sequence[Result]], max_batch: int = 500) -> None:
        self.write = write
        self.max_batch = max_batch
        self.pending: list[tuple[Item, gevent.event.AsyncResult]] = []
        self.wake = gevent.event.Event()
        self.writer: gevent.Greenlet | None = None

    def submit(self, item: Item) -> Result:
        done = gevent.event.AsyncResult()
        self.pending.append((item, done))
        self.wake.set()
        if self.writer is None or self.writer.dead:
            self.writer = gevent.spawn(self._run)
        return done.get()

    def _run(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            while self.pending:
                batch, self.pending = self.pending[:self.max_batch], self.pending[self.max_batch:]
                try:
                    results = self.write([item for item, _ in batch])
                except Exception as exc:  # every waiter gets the failure and answers for itself
                    for _, done in batch:
                        done.set_exception(exc)
                    continue
                for (_, done), result in zip(batch, results, strict=True):
                    done.set(result)

    def stop(self) -> None:
        if self.writer:
            self.writer.kill()

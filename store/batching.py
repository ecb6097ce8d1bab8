"""Batched writes: group commit, and isolating the one row of a batch that a store refuses.

A batch is one statement (or one COPY): all of it or none. One row PostgreSQL cannot hold would fail every row
written with it, so a batch that fails with BadValue is split in halves, recursively, until the refused rows
stand alone; every other row is written. Outages (StoreUnavailable) are not split: the whole batch waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, cast

import gevent
import gevent.event

from store.errors import BadValue

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


def write_apart(write: Callable[[list[Item]], Sequence[Result]],
                items: list[Item]) -> list[Result | BadValue]:
    """`write(items)`'s results; where a batch fails with BadValue, its halves are written apart, so each
    item gets its own result, or the BadValue that refused it alone (other errors propagate)."""
    try:
        return list(write(items))
    except BadValue as exc:
        if len(items) == 1:
            return [exc]
    middle = len(items) // 2
    return write_apart(write, items[:middle]) + write_apart(write, items[middle:])


class GroupCommit(Generic[Item, Result]):
    """`submit(item)` returns once `write(batch)` has stored the batch holding `item`, with that item's result
    (or raises the batch's error, or the BadValue that refused this item alone). Nothing waits on purpose: an
    item alone is a batch of one; under load batches grow, so each item costs the store a fraction of a round
    trip."""

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
            self.writer.link_exception(lambda g: log.error("group commit writer crashed: %r", g.exception))
        return cast(Result, done.get())  # gevent is untyped: the writer sets this item's Result

    def _run(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            while self.pending:
                batch, self.pending = self.pending[:self.max_batch], self.pending[self.max_batch:]
                try:
                    results = write_apart(self.write, [item for item, _ in batch])
                except Exception as exc:  # every waiter gets the failure and answers for itself
                    for _, done in batch:
                        done.set_exception(exc)
                    continue
                for (_, done), result in zip(batch, results, strict=True):
                    if isinstance(result, BadValue):
                        done.set_exception(result)
                    else:
                        done.set(result)

    def stop(self) -> None:
        if self.writer:
            self.writer.kill()

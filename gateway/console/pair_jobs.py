"""Pair creation started from the console: it runs in the background and writes its progress to Redis
(`store/console.py`) for the offer's page to follow. A creation already running for the offer is refused at once
(Conflict, 409), before any job starts. Whatever ends a job, its record says so: a failure in words, and a crash
(a bug) through the greenlet's crash handler."""

from __future__ import annotations

import logging

import gevent
import gevent.pool

from gateway.errors import GatewayError
from gateway.postbacks.pair_setup import Claim, PairCreation
from store.console import ConsoleJobs
from store.errors import StoreError

log = logging.getLogger(__name__)


class PairJobs:
    def __init__(self, creation: PairCreation, jobs: ConsoleJobs, background: gevent.pool.Group) -> None:
        self.creation = creation
        self.jobs = jobs
        self.background = background

    def start(self, offer_slug: str, count: int) -> str:
        """Create `count` pairs of the offer in the background; the job's id (its progress: `progress`)."""
        claim = self.creation.claim(offer_slug)
        try:
            job = self.jobs.start("pairs", offer=offer_slug, done=0, total=count, current="")
        except StoreError:
            claim.release()
            raise
        greenlet = self.background.spawn(self._run, job, offer_slug, count, claim)
        greenlet.link_exception(lambda g: self._crashed(job, g))
        return job

    def progress(self, job_id: str) -> dict[str, str] | None:
        return self.jobs.get(job_id)

    def _run(self, job: str, slug: str, count: int, claim: Claim) -> None:
        def progress(done: int, total: int, index: int | None) -> None:
            self.jobs.update(job, done=done, total=total, current=index or "")

        try:
            report = self.creation.create(slug, count, progress, claim)
        except (GatewayError, StoreError) as exc:
            self.jobs.update(job, state="failed", message=str(exc))
            return
        self.jobs.update(job, state="done", message=f"created pair(s) {', '.join(map(str, report.created))}; "
                                                    f"{report.pairs_total} in all")

    def _crashed(self, job: str, greenlet: gevent.Greenlet) -> None:
        log.error("pair creation job %s crashed: %r", job, greenlet.exception)
        try:
            self.jobs.update(job, state="failed", message="pair creation stopped on an internal error; see the "
                                                          "gateway log, then create again (it resumes)")
        except StoreError as exc:
            log.warning("pair creation job %s not marked failed: %s", job, exc)

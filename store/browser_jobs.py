"""Browser traces as jobs in Redis, so that any gateway process can use any browser worker, on any host.

`gw:browser:jobs` is the list of waiting jobs (JSON, each naming its id and its deadlines); a worker takes one with
BLPOP, claims its id (`gw:browser:claim:ID`: a job queued twice by a retried RPUSH runs once) and pushes its
result (JSON) to `gw:browser:result:ID`, which the gateway that asked waits on with BLPOP and which expires a minute
after. `gw:browser:workers` holds each live worker (scored by when its heartbeat ends, ms):
a worker that stops beating is no longer counted. Jobs carry no secret: a worker looks the slot's proxy
credentials up itself."""

from __future__ import annotations

import time

import redis

from store.keys import Keyspace
from store.redis_client import available

RESULT_TTL_S = 60


class BrowserJobs:
    def __init__(self, client: redis.Redis, keys: Keyspace, poll_s: float = 1.0) -> None:
        self.client = client
        self.queue = keys.key("browser", "jobs")
        self.live = keys.key("browser", "workers")
        self.keys = keys
        self.poll_s = poll_s  # each blocking wait, shorter than the client's socket timeout

    def result_key(self, job_id: str) -> str:
        return self.keys.key("browser", "result", job_id)

    def submit(self, job_id: str, job: str, wait_s: float) -> str | None:
        """Queue `job` and wait up to `wait_s` for its result (None when none came), in waits of `poll_s`: one
        blocking call as long as the trace would outlast the client's socket timeout."""
        available(lambda: self.client.rpush(self.queue, job))
        deadline = time.monotonic() + wait_s
        key = [self.result_key(job_id)]
        while (left := deadline - time.monotonic()) > 0:
            found = available(lambda: self.client.blpop(key, timeout=max(0.01, min(self.poll_s, left))))
            if found:
                return str(found[1])
        return None

    def claim(self, job_id: str) -> bool:
        """Whether this worker is the first to take the job (a client's retry may have queued it twice)."""
        return bool(available(lambda: self.client.set(self.keys.key("browser", "claim", job_id), 1, nx=True,
                                                      ex=RESULT_TTL_S)))

    def take(self, wait_s: int) -> str | None:
        """The next job, waiting up to `wait_s` for one (a worker's side)."""
        found = available(lambda: self.client.blpop([self.queue], timeout=wait_s))
        return str(found[1]) if found else None

    def answer(self, job_id: str, result: str) -> None:
        key = self.result_key(job_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.rpush(key, result)
        pipe.expire(key, RESULT_TTL_S)
        available(pipe.execute)

    def beat(self, worker: str, ttl_s: float) -> None:
        """This worker is alive for `ttl_s` more."""
        available(lambda: self.client.zadd(self.live, {worker: int((time.time() + ttl_s) * 1000)}))

    def gone(self, worker: str) -> None:
        available(lambda: self.client.zrem(self.live, worker))

    def workers(self) -> int:
        """Workers whose heartbeat has not ended."""
        now_ms = int(time.time() * 1000)
        pipe = self.client.pipeline(transaction=False)
        pipe.zremrangebyscore(self.live, "-inf", now_ms)
        pipe.zcard(self.live)
        return int(available(pipe.execute)[1])

    def waiting(self) -> int:
        return int(available(lambda: self.client.llen(self.queue)))

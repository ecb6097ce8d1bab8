"""A small HTTP load generator for the benchmarks, meant to run in a process of its own.

It speaks just enough HTTP/1.1 over raw sockets (request line, headers, Content-Length or chunked body) that
the client costs far less than the server it measures. Three modes:

- closed loop: `concurrency` keep-alive connections, each sending its next request when the last answer came
  (at most `--requests` in all);
- open loop: requests started at a fixed `rate` per second whatever the answers do (latency under load);
- burst: `burst` requests started at the same moment, one connection each (fully overlapping clicks).

Every mode stops by itself: after `seconds` (or `--requests`), or when the burst is answered (bounded by
`timeout`).
"""

from __future__ import annotations

import itertools
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import quantiles
from urllib.parse import urlsplit

import gevent
import gevent.event


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def summary(self) -> dict:
        done = len(self.latencies)
        cuts = quantiles(self.latencies, n=100, method="inclusive") if done > 1 else [0.0] * 99
        return {"requests": done, "per_second": round(done / self.seconds, 1) if self.seconds else 0.0,
                "statuses": {str(k): v for k, v in self.statuses.items()}, "errors": dict(self.errors),
                "p50_ms": round(cuts[49] * 1000, 2), "p90_ms": round(cuts[89] * 1000, 2),
                "p99_ms": round(cuts[98] * 1000, 2), "max_ms": round(max(self.latencies, default=0) * 1000, 2),
                "seconds": round(self.seconds, 2)}


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def request(self, raw: bytes) -> int:
        self.sock.sendall(raw)
        head = self._until(b"\r\n\r\n")
        status = int(head[9:12])
        lowered = head.lower()
        if b"transfer-encoding: chunked" in lowered:
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                self._take(size + 2)
                if size == 0:
                    break
        else:
            marker = lowered.find(b"content-length:")
            length = int(lowered[marker + 15:lowered.index(b"\r\n", marker)]) if marker >= 0 else 0
            self._take(length)
        if b"connection: close" in lowered:
            self.close()
        return status

    def _until(self, token: bytes) -> bytes:
        while token not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(token)
        return head

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()
        self.sock = None  # type: ignore[assignment]

    @property
    def open(self) -> bool:
        return self.sock is not None


def raw_request(method: str, url: str, headers: dict[str, str]) -> bytes:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class Hammer:
    def __init__(self, urls: Callable[[int], str], method: str = "GET", headers: dict[str, str] | None = None,
                 timeout: float = 30.0) -> None:
        self.urls = urls
        self.method = method
        self.headers = headers or {}
        self.timeout = timeout
        self.tally = Tally()
        self.counter = itertools.count()

    def _one(self, conn: Connection | None) -> Connection | None:
        return self._send(conn, next(self.counter))

    def _send(self, conn: Connection | None, n: int) -> Connection | None:
        url = self.urls(n)
        parts = urlsplit(url)
        started = time.perf_counter()
        try:
            if conn is None or not conn.open:
                conn = Connection(parts.hostname, parts.port or 80, self.timeout)
            status = conn.request(raw_request(self.method, url, self.headers))
        except (OSError, ValueError) as exc:
            self.tally.errors[type(exc).__name__] += 1
            if conn is not None and conn.open:
                conn.close()
            return None
        self.tally.latencies.append(time.perf_counter() - started)
        self.tally.statuses[status] += 1
        return conn

    def closed_loop(self, concurrency: int, seconds: float, limit: int | None = None) -> dict:
        """`concurrency` connections for `seconds`, or until `limit` requests were sent."""
        deadline = time.perf_counter() + seconds

        def user() -> None:
            conn = None
            while time.perf_counter() < deadline:
                n = next(self.counter)
                if limit is not None and n >= limit:
                    break
                conn = self._send(conn, n)

        return self._timed(lambda: gevent.joinall([gevent.spawn(user) for _ in range(concurrency)]))

    def open_loop(self, rate: float, seconds: float) -> dict:
        def send_all() -> None:
            jobs, start = [], time.perf_counter()
            for n in range(int(rate * seconds)):
                gevent.sleep(max(0.0, start + n / rate - time.perf_counter()))
                jobs.append(gevent.spawn(self._one, None))
            gevent.joinall(jobs, timeout=self.timeout)

        return self._timed(send_all)

    def burst(self, size: int) -> dict:
        go = gevent.event.Event()

        def one() -> None:
            go.wait()
            self._one(None)

        jobs = [gevent.spawn(one) for _ in range(size)]
        gevent.sleep(0)
        return self._timed(lambda: (go.set(), gevent.joinall(jobs, timeout=self.timeout)))

    def _timed(self, run: Callable[[], object]) -> dict:
        started = time.perf_counter()
        run()
        self.tally.seconds = time.perf_counter() - started
        return self.tally.summary()

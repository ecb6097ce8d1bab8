"""A broken affiliate server on loopback, below HTTP: the faults a WSGI app cannot produce.

The request path picks the fault:
    /hang      reads the request and never answers
    /close     closes the connection without a byte
    /reset     answers with a TCP reset
    /garbage   answers bytes that are not HTTP, then closes
    /trickle   sends a 200 header, then one byte of body every 200 ms for as long as the client listens
    /headers   sends half a status line and stalls
"""

from __future__ import annotations

import contextlib
import socket
import struct

import gevent
from gevent.server import StreamServer

GARBAGE = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all \xff\xfe\r\n\r\n"


class BrokenUpstream:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.server = StreamServer((host, 0), self._handle)

    def start(self) -> BrokenUpstream:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(timeout=1)

    def url(self, fault: str) -> str:
        host, port = self.server.address[:2]
        return f"http://{host}:{port}/{fault}"

    def _handle(self, sock: socket.socket, _address: tuple) -> None:
        request = b""
        while b"\r\n\r\n" not in request and len(request) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                return
            request += chunk
        fault = request.split(b" ", 2)[1].lstrip(b"/").split(b"?")[0].decode("latin-1")
        if fault == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif fault == "garbage":
            sock.sendall(GARBAGE)
        elif fault == "trickle":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000000\r\n\r\n<html>")
            with contextlib.suppress(OSError):  # until the client hangs up
                while True:
                    gevent.sleep(0.2)
                    sock.sendall(b" ")
        elif fault == "headers":
            sock.sendall(b"HTTP/1.1 30")
            gevent.sleep(3600)
        elif fault == "hang":
            gevent.sleep(3600)
        sock.close()

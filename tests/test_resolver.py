import socket

import gevent
from gevent.resolver.thread import Resolver as ThreadResolver

from gateway.process.resolver import Resolver


def test_the_suite_runs_on_the_literal_resolver():
    assert isinstance(gevent.get_hub().resolver, Resolver)


def test_literal_addresses_skip_the_thread_pool_and_names_do_not(monkeypatch):
    handed_on = []
    original = ThreadResolver.getaddrinfo

    def recording(self, host, *args, **kwargs):
        handed_on.append(host)
        return original(self, host, *args, **kwargs)

    monkeypatch.setattr(ThreadResolver, "getaddrinfo", recording)
    resolver = Resolver(gevent.get_hub())
    for host, expected in (("127.0.0.1", "127.0.0.1"), ("::1", "::1"), (b"127.0.0.2", "127.0.0.2")):
        (*_, address), *_ = resolver.getaddrinfo(host, 80, 0, socket.SOCK_STREAM)
        assert address[:2] == (expected, 80)
    assert handed_on == []

    names = {info[4][0] for info in resolver.getaddrinfo("localhost", 80, 0, socket.SOCK_STREAM)}
    assert names & {"127.0.0.1", "::1"}
    assert handed_on == ["localhost"]

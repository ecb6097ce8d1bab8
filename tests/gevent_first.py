"""Loaded by pytest before any other plugin (`-p tests.gevent_first` in pyproject.toml's addopts): gevent must
patch the standard library before plugins such as schemathesis and hypothesis import ssl, socket and
threading, or those modules keep the blocking originals."""

from gevent import monkey

monkey.patch_all()

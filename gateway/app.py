"""The WSGI application: the hot paths (clicks, postbacks) as plain WSGI callables, everything else Bottle
apps (health, the admin API under /api/), one per concern."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gateway.routes import api, health
from gateway.routes.clicks import ClickApp
from gateway.routes.webhooks import PostbackApp
from gateway.runtime import Runtime


def build_app(rt: Runtime) -> Callable:
    root = health.build(rt)
    admin = api.build(rt)
    clicks, postbacks = ClickApp(rt), PostbackApp(rt)
    exact = {"/track-hit": clicks, "/webhooks/trackier": postbacks}

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/"):  # not Bottle.mount: it would decode a non-ASCII path twice and fail
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/api"
            environ["PATH_INFO"] = path[4:]
            environ.pop("HTTP_TRANSFER_ENCODING", None)  # pywsgi has already undone the chunking; Bottle would again
            return admin(environ, start_response)
        handler = exact.get(path) or (clicks if path.startswith("/c/") and "/" not in path[3:] else root)
        return handler(environ, start_response)

    return app

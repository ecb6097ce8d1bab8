"""The WSGI application, wired to the services: the hot paths (clicks, postbacks) as plain WSGI callables,
everything else Bottle apps (probes, the admin API under /api/), one per concern, each given only the services it
calls. The routes themselves know nothing of this process's composition."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gateway.process.services import Services
from gateway.routes import api, api_offers, api_pairs, api_pool, probes
from gateway.routes.auth import admin_token
from gateway.routes.click_links import ClickApp
from gateway.routes.feed import FeedApp
from gateway.routes.postback_hook import PostbackApp


def build_app(services: Services) -> Callable:
    settings = services.settings
    root = probes.build(services.stores, services.metrics)
    admin = api.build(admin_token(settings), [
        lambda app: api_pool.register(app, services.slots, services.census, services.maintenance,
                                      settings.pool.cooldown_s),
        lambda app: api_offers.register(app, services.catalog, services.reports, services.ahead, services.feed),
        lambda app: api_pairs.register(app, services.campaign_pairs)])
    clicks = ClickApp(services.offer_cache, services.clicks, settings.clicks.max_query_bytes)
    postbacks = PostbackApp(services.receiver, settings.webhooks, settings.clicks.max_query_bytes)
    feed = FeedApp(services.feed)
    exact = {"/track-hit": clicks, "/webhooks/trackier": postbacks}

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/"):  # not Bottle.mount: it would decode a non-ASCII path twice and fail
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/api"
            environ["PATH_INFO"] = path[4:]
            environ.pop("HTTP_TRANSFER_ENCODING", None)  # pywsgi has already undone the chunking; Bottle would again
            return admin(environ, start_response)
        if path.startswith("/feed/"):
            return feed(environ, start_response)
        handler = exact.get(path) or (clicks if path.startswith("/c/") and "/" not in path[3:] else root)
        return handler(environ, start_response)

    return app

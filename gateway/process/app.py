"""The WSGI application, wired to the services: the hot paths (clicks, postbacks, the suffix feed) as plain WSGI
callables, everything else Bottle apps (probes, the admin API under /api/, the console at every other path), one
per concern, each given only the services it calls. The routes themselves know nothing of this process's composition."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.console import app as console_app
from gateway.console import pages_home, pages_offers, pages_pool, pages_traces
from gateway.console.pages_offers import OfferPages
from gateway.process.services import Services
from gateway.routes import api, api_offers, api_pairs, api_pool, probes
from gateway.routes.click_links import ClickApp
from gateway.routes.feed import FeedApp
from gateway.routes.postback_hook import PostbackApp
from gateway.routes.wsgi import StartResponse, WSGIApp


def build_app(services: Services) -> WSGIApp:
    settings = services.settings
    root = probes.build(services.stores, services.metrics, settings.metrics.token.reveal())
    admin = api.build(services.admin_token, [
        lambda app: api_pool.register(app, services.slots, services.census,
                                      lambda: services.maintenance.tick().as_dict(), settings.pool.cooldown_s),
        lambda app: api_offers.register(app, services.catalog, services.reports, services.ahead),
        lambda app: api_pairs.register(app, services.pair_creation, services.pair_views, services.pair_controls)])
    clients = services.clients
    clicks = ClickApp(services.offer_cache, services.clicks, clients, settings.clicks.max_query_bytes)
    postbacks = PostbackApp(services.receiver, settings.webhooks, clients, settings.clicks.max_query_bytes)
    feed = FeedApp(services.feed, clients, services.metrics)
    console = console_app.build(services.gate, clients, [
        lambda app: pages_home.register(app, services.overview, services.catalog, services.pair_jobs),
        lambda app: pages_offers.register(app, OfferPages(services.catalog, services.reports, services.ahead,
                                                          services.pair_views, services.pair_controls,
                                                          services.pair_jobs, clients, services.browser)),
        lambda app: pages_pool.register(app, services.slots, services.census, sorted(settings.providers),
                                        settings.pool.cooldown_s),
        lambda app: pages_traces.register(app, services.reports, services.catalog, services.trace_tool, clients)])
    exact: dict[str, WSGIApp] = {"/track-hit": clicks, "/webhooks/trackier": postbacks, "/healthz": root,
                                 "/readyz": root, "/metrics": root}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/"):  # not Bottle.mount: it would decode a non-ASCII path twice and fail
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/api"
            environ["PATH_INFO"] = path[4:]
            environ.pop("HTTP_TRANSFER_ENCODING", None)  # pywsgi has already undone the chunking; Bottle would again
            return admin(environ, start_response)
        if path.startswith("/feed/"):
            return feed(environ, start_response)
        handler = exact.get(path) or (clicks if path.startswith("/c/") else console)
        return handler(environ, start_response)

    return app

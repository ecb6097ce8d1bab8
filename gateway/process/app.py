"""The WSGI application, wired to the services: the hot paths (clicks, postbacks, the suffix feed) as plain WSGI
callables, everything else Bottle apps (probes, the admin API under /api/, the console at every other path), one
per concern, each given only the services it calls. The routes themselves know nothing of this process's composition."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gateway.console import app as console_app
from gateway.console.gate import Gate, Tokens
from gateway.console.overview import Overview, OverviewStores
from gateway.console.services import ConsoleServices
from gateway.process.services import Services
from gateway.routes import api, api_offers, api_pairs, api_pool, probes
from gateway.routes.auth import admin_token
from gateway.routes.click_links import ClickApp
from gateway.routes.clients import Clients
from gateway.routes.feed import FeedApp
from gateway.routes.postback_hook import PostbackApp


def console_services(services: Services, token: str, clients: Clients) -> ConsoleServices:
    settings, stores = services.settings, services.stores
    tokens = Tokens(token, settings.admin.viewer_token.reveal(), settings.admin.session_ttl_s,
                    settings.admin.sign_ins_per_minute)
    overview = Overview(OverviewStores(stores.click_stats, stores.snapshots, stores.events),
                        services.census, services.records, lambda: probes.check_stores(stores, services.metrics))
    return ConsoleServices(
        gate=Gate(stores.sessions, stores.limiter, tokens), clients=clients, overview=overview,
        catalog=services.catalog,
        reports=services.reports, ahead=services.ahead, pairs=services.campaign_pairs, slots=services.slots,
        census=services.census, runner=services.runner, jobs=stores.jobs, limiter=stores.limiter,
        background=services.background,
        settings=settings)


def build_app(services: Services) -> Callable:
    settings = services.settings
    root = probes.build(services.stores, services.metrics, settings.metrics.token.reveal())
    token = admin_token(settings)
    admin = api.build(token, [
        lambda app: api_pool.register(app, services.slots, services.census, services.maintenance,
                                      settings.pool.cooldown_s),
        lambda app: api_offers.register(app, services.catalog, services.reports, services.ahead),
        lambda app: api_pairs.register(app, services.campaign_pairs)])
    clients = Clients(settings.server.trusted_proxies)
    clicks = ClickApp(services.offer_cache, services.clicks, clients, settings.clicks.max_query_bytes)
    postbacks = PostbackApp(services.receiver, settings.webhooks, clients, settings.clicks.max_query_bytes)
    feed = FeedApp(services.feed, clients, services.metrics)
    console = console_app.build(console_services(services, token, clients))
    exact = {"/track-hit": clicks, "/webhooks/trackier": postbacks, "/healthz": root, "/readyz": root,
             "/metrics": root}

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
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

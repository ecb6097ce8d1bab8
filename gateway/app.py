"""The WSGI application: one Bottle app per concern, composed here."""

from __future__ import annotations

from bottle import Bottle

from gateway.routes import api, clicks, health, webhooks
from gateway.runtime import Runtime


def build_app(rt: Runtime) -> Bottle:
    root = Bottle()
    root.merge(health.build(rt))
    root.merge(clicks.build(rt))
    root.merge(webhooks.build(rt))
    root.mount("/api/", api.build(rt))
    return root

"""The egress pool: per-country counts and warnings, the slots with their health, state and lease holder; provision,
add, import, remove, switch and reset slots; the size calculator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bottle import Bottle, HTTPResponse, request

from gateway.console import web
from gateway.egress.census import Census
from gateway.egress.sizing import required_slots
from gateway.egress.slots import Slots, key_counts
from gateway.errors import ValidationError

SLOTS_SHOWN = 300
LABELS = {"--peak-clicks-per-s": "the peak", "--trace-s": "the trace time", "--cooldown-s": "the cooldown",
          "--headroom": "the headroom"}


def size_query() -> dict[str, Any] | None:
    """The size calculator's inputs and answer, when the page was asked one."""
    if "peak" not in request.query:
        return None
    values = {name: request.query.get(name, "") for name in ("peak", "trace_s", "cooldown_s", "headroom")}
    try:
        slots, explanation = required_slots(*map(float, values.values()))
    except ValueError:
        return {**values, "error": "each value must be a number"}
    except ValidationError as exc:
        return {**values, "error": f"{LABELS[exc.field]} {exc.message}"}
    return {**values, "slots": slots, "explanation": explanation}


def register(app: Bottle, slots: Slots, census: Census, providers: list[str], cooldown_s: float) -> None:
    @app.get("/pool")
    def pool() -> HTTPResponse:
        return pool_page()

    def pool_page(error: ValidationError | None = None, posted: dict[str, Any] | None = None) -> HTTPResponse:
        country = request.query.get("country") or None
        return web.render("pool", 400 if error else 200, title="Pool", pool=census.status(),
                          slots=slots.listing(country, SLOTS_SHOWN), country=country or "", shown=SLOTS_SHOWN,
                          providers=providers, size=size_query(), error=error, posted=posted or {},
                          cooldown_s=cooldown_s)

    def acting(action: Callable[[dict[str, str]], object], done: str) -> HTTPResponse:
        posted = web.form()
        try:
            result = action(posted)
        except ValidationError as exc:
            return pool_page(exc, posted)
        return web.go("/pool", done.format(result=result))

    @app.post("/pool/provision")
    def provision() -> HTTPResponse:
        return acting(lambda f: slots.provision(f.get("provider", ""), key_counts(
            [item.strip() for item in f.get("countries", "").split(",") if item.strip()], "countries")),
                      "Provisioned {result.provider}: {result.added} added (per country).")

    @app.post("/pool/slots")
    def add() -> HTTPResponse:
        return acting(lambda f: slots.add_static(f.get("url", ""), f.get("country", ""), f.get("id") or None)[0],
                      "Slot {result.id} is in the pool.")

    @app.post("/pool/import")
    def import_csv() -> HTTPResponse:
        return acting(lambda f: slots.import_csv(f.get("csv", "")), "Imported: {result[added]} added, "
                                                                     "{result[skipped_existing]} already there.")

    @app.post("/pool/slots/<slot_id>/remove")
    def remove(slot_id: str) -> HTTPResponse:
        return web.go("/pool", f"Slot {slots.remove(slot_id).id} removed.")

    @app.post("/pool/slots/<slot_id>/<action:re:enable|disable>")
    def switch(slot_id: str, action: str) -> HTTPResponse:
        slots.set_enabled(slot_id, action == "enable")
        return web.go("/pool", f"Slot {slot_id} {action}d.")

    @app.post("/pool/slots/<slot_id>/reset-health")
    def reset_one(slot_id: str) -> HTTPResponse:
        slots.reset_health(slot_id)
        return web.go("/pool", f"Slot {slot_id}: failures forgotten, out of quarantine.")

    @app.post("/pool/reset-health")
    def reset_all() -> HTTPResponse:
        return web.go("/pool", f"{slots.reset_health()} slot(s): failures forgotten, out of quarantine.")

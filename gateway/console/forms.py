"""The offer form: which fields it shows, how each is written in a text box, and the form's text turned into the
fields the catalogue checks (so the console and the API share every rule). Text that cannot even be read as its
kind (a number, JSON) is refused here, naming the field, like everything else."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import ValidationError
from gateway.text import checked_json
from gateway.tracing.outcomes import Tracer
from store.offers import Offer


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # text, int, optional_int, list, json, choice
    help: str = ""
    choices: tuple[str, ...] = ()
    wide: bool = False


FIELDS = (
    Field("slug", "Slug", "text", "the click URL's name: /c/SLUG (a-z, 0-9, - and _)"),
    Field("name", "Name", "text"),
    Field("tracking_url", "Tracking URL", "text", "the affiliate link the chain starts at; {gclid}-style macros "
          "take the click's values", wide=True),
    Field("fallback_url", "Fallback URL", "optional_text", "where a click goes when its trace does not finish in "
          "time (empty: the tracking URL)", wide=True),
    Field("country", "Country", "text", "the egress slots' country, e.g. us"),
    Field("fallback_countries", "Fallback countries", "list", "comma-separated, tried in order"),
    Field("wait_ms", "Wait (ms)", "int", "how long a click waits for its trace"),
    Field("click_mode", "Click mode", "choice", "inline: each click traces; ahead: from fresh traces made ahead "
          "(inline when none is left); ahead_only: never wait", ("inline", "ahead", "ahead_only")),
    Field("tracer", "Tracer", "choice", "http: follows what it can read; browser: headless Chromium; auto: HTTP, "
          "then a browser from a page that needs a script engine", tuple(Tracer)),
    Field("ahead_depth", "Ahead depth", "optional_int", "fresh traces kept (empty: the default)"),
    Field("ahead_max_age_s", "Ahead max age (s)", "optional_int", "oldest a kept trace may be (empty: the default)"),
    Field("cooldown_s", "Cooldown (s)", "optional_int", "slot rest after each trace (empty: the pool's)"),
    Field("ua_profile", "User-Agent", "text", "desktop, mobile or a literal User-Agent"),
    Field("pass_through", "Pass-through", "list", "inbound parameters passed on (names; a trailing * is a prefix)",
          wide=True),
    Field("param_policy", "Parameter policy", "json", '{"mode": "all"}, or allow/deny a list, with renames',
          wide=True),
    Field("final_url", "Final URL (pairs)", "optional_text", "the landing page campaign pairs point at (empty: "
          "traced once)", wide=True),
    Field("sub_id_mapping", "Sub-id mapping (pairs)", "json", '{"p1": "clickid", ...}', wide=True),
    Field("update_interval_s", "Update interval (s, pairs)", "int", "a pair is updated at most this often"),
)
NEW_ONLY = frozenset({"slug"})


def shown(offer: Offer | None) -> dict[str, str]:
    """The form's text for an offer (or a new one's defaults)."""
    offer = offer or Offer(slug="", name="", tracking_url="", country="")
    values = {}
    for f in FIELDS:
        value = getattr(offer, f.name)
        if f.kind == "list":
            values[f.name] = ", ".join(value)
        elif f.kind == "json":
            values[f.name] = json.dumps(value)
        else:
            values[f.name] = "" if value is None else str(value)
    return values


def parsed(form: Mapping[str, str], creating: bool) -> dict[str, Any]:
    """The offer fields the form's text says; ValidationError naming the first field that cannot be read."""
    data: dict[str, Any] = {}
    for f in FIELDS:
        if f.name not in form or (f.name in NEW_ONLY and not creating):
            continue
        text = form[f.name].strip()
        if f.kind in ("int", "optional_int"):
            data[f.name] = _number(text, f)
        elif f.kind == "list":
            data[f.name] = [item.strip() for item in text.split(",") if item.strip()]
        elif f.kind == "json":
            try:
                data[f.name] = checked_json((text or "{}").encode("utf-8"), f.name)
            except ValidationError as exc:
                raise ValidationError(f.name, f"must be JSON, like {f.help} ({exc.message})") from None
        elif f.kind == "optional_text":
            data[f.name] = text or None
        elif text or not creating:
            data[f.name] = text
    return data


def _number(text: str, f: Field) -> int | None:
    if not text and f.kind == "optional_int":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationError(f.name, "must be a whole number") from None

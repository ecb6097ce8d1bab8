"""The admin API against its own OpenAPI document: schemathesis generates requests for every operation from
`/api/openapi.json` and checks the live API's answers (no 500, statuses, content types and bodies as
documented). Every route refuses a missing or wrong token."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gateway.routes import openapi
from tests.conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
schema = schemathesis.openapi.from_dict(openapi.document())


@pytest.fixture
def seeded(live_url, runtime):
    """The live API with one offer, `shop`, so that routes naming it get past the lookup."""

    runtime.catalog.create({"slug": "shop", "name": "Shop", "country": "us",
                            "tracking_url": "http://127.0.0.1:9/start?gclid={gclid}"})
    return live_url


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_api_answers_as_documented(case, seeded):
    """Every check but "schema-valid data is accepted": the handlers check more than JSON Schema can say
    (country codes against ISO 3166, a URL's host, parameter policies), and refuse it with a 400 naming the
    field, which this run does check is documented."""
    case.call_and_validate(base_url=f"{seeded}/api", headers=AUTH, excluded_checks=[positive_data_acceptance])


def test_the_document_is_served_and_matches_the_routes(live_url):
    served = requests.get(f"{live_url}/api/openapi.json", headers=AUTH, timeout=10)
    assert served.status_code == 200 and served.json() == openapi.document()
    from bottle import Bottle

    from gateway.routes import api_offers, api_pairs, api_pool

    app = Bottle()
    api_offers.register(app, None, None, None)
    api_pairs.register(app, None, None, None)
    api_pool.register(app, None, None, None, 0.0)
    routed = {openapi.documented_path(route.rule) for route in app.routes}
    routed |= {path.replace("/enable", "/disable") for path in routed}
    assert routed == set(openapi.PATHS) - {"/openapi.json"}


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {ADMIN_TOKEN}", "Bearer", f"Bearer {ADMIN_TOKEN}x"])
def test_every_documented_route_refuses_a_missing_or_wrong_token(live_url, header):
    headers = {"Authorization": header} if header else {}
    for route, operations in openapi.PATHS.items():
        path = route.replace("{index}", "1").replace("{key}", "shop").replace("{slot_id}", "s")
        for method in operations.keys() - {"parameters"}:
            response = requests.request(method, f"{live_url}/api{path}", headers=headers, timeout=10)
            assert response.status_code == 401, (method, route)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Cache-Control"] == "no-store"


def test_unicode_and_sql_looking_text_is_stored_verbatim(live_url):
    """Names are data: quotes, SQL, markup and any script come back exactly as sent; NUL is refused."""
    api = requests.Session()
    api.headers.update(AUTH)
    name = "Robert'); DROP TABLE offers;-- <b>Café</b> ☕ 東京 \U0001f600 %s %(x)s"
    created = api.post(f"{live_url}/api/offers", timeout=10, json={
        "slug": "verbatim", "name": name, "country": "us", "tracking_url": "https://aff.example/c?q='1'--"})
    assert created.status_code == 201, created.text
    shown = api.get(f"{live_url}/api/offers/verbatim", timeout=10).json()
    assert (shown["name"], shown["tracking_url"]) == (name, "https://aff.example/c?q='1'--")
    refused = api.patch(f"{live_url}/api/offers/verbatim", json={"name": "a\x00b"}, timeout=10)
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "name"
    assert api.get(f"{live_url}/api/offers/%00", timeout=10).status_code in (400, 404)

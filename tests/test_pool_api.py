"""`/api/pool` and `/api/maintenance` over HTTP, and the admin API's auth and error rendering."""

from __future__ import annotations

import os
import stat

import pytest
import requests

from gateway.config import Secret
from gateway.routes.auth import admin_token, bearer_matches
from tests.conftest import ADMIN_TOKEN, PROVIDER_PASSWORD


@pytest.fixture
def api(live_url):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"

    def call(method: str, path: str, expect: int = 200, **kwargs):
        response = session.request(method, f"{live_url}/api{path}", timeout=30, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    return call


@pytest.mark.parametrize("path", ["/api/pool", "/api/pool/slots/x", "/api/no-such-route", "/api/maintenance"])
@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {ADMIN_TOKEN}", "Bearer"])
def test_every_api_path_refuses_a_missing_or_wrong_token(live_url, path, header):
    """Without the right bearer token every /api/ path answers 401 JSON, before routing."""
    headers = {"Authorization": header} if header else {}
    response = requests.post(f"{live_url}{path}", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_bearer_check():
    """Only `Bearer <exact token>` passes; an empty configured token never does."""
    assert bearer_matches("Bearer abc", "abc") and bearer_matches("bearer  abc", "abc")
    assert not bearer_matches("Bearer abcd", "abc") and not bearer_matches(None, "abc")
    assert not bearer_matches("Bearer ", "")


def test_a_generated_token_is_kept_private_and_reused(settings):
    """With no token configured one is generated under the data dir, mode 0600, and reused afterwards."""
    unset = settings.replace(admin__token=Secret(""))
    first = admin_token(unset)
    path = settings.server.data_dir / "admin-token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first) >= 40 and admin_token(unset) == first


def test_provision_inspect_and_repair_over_http(api, live_url):
    """Provision, status, list, show (passwords masked), disable/enable, reset, maintenance, size; the pool
    gauges follow."""
    report = api("POST", "/pool/provision", json={"provider": "luna", "countries": {"us": 3, "uk": 2}})
    assert report["added"] == {"us": 3, "gb": 2}
    status = api("GET", "/pool")
    assert [(c["country"], c["ready"]) for c in status["countries"]] == [("gb", 2), ("us", 3)]
    metrics = requests.get(f"{live_url}/metrics", timeout=10).text
    assert 'gateway_pool_slots{country="us",state="ready"} 3.0' in metrics
    assert 'gateway_pool_utilization{country="gb"} 0.0' in metrics
    slots = api("GET", "/pool/slots?country=gb")["slots"]
    assert [s["id"] for s in slots] == ["luna-gb-1", "luna-gb-2"]
    assert api("POST", "/pool/slots/luna-gb-1/disable")["live"]["state"] == "disabled"
    assert api("POST", "/pool/slots/luna-gb-1/enable")["live"]["state"] == "ready"
    assert api("POST", "/pool/slots/luna-gb-1/reset-health")["id"] == "luna-gb-1"
    assert api("POST", "/pool/reset-health") == {"reset": 5}
    assert api("POST", "/maintenance")["errors"] == []
    assert api("GET", "/pool/size?peak_clicks_per_s=1&trace_s=4&cooldown_s=60")["slots"] == 96
    assert PROVIDER_PASSWORD not in str(api("GET", "/pool/slots"))


def test_static_slots_over_http(api):
    """Add a static proxy (201, then 200 for the same one), import CSV, remove; its password stays hidden."""
    body = {"url": "socks5://joe:Pw-Static-1@127.0.0.1:1080", "country": "de"}
    created = api("POST", "/pool/slots", 201, json=body)
    assert (created["id"], created["password"], created["created"]) == ("static-de-1", "********", True)
    assert api("POST", "/pool/slots", 200, json=body)["created"] is False
    imported = api("POST", "/pool/import", data="country,url\nde,http://127.0.0.1:3128\n",
                   headers={"Content-Type": "text/csv"})
    assert imported["added"] == 1
    assert api("GET", "/pool/slots/static-de-1")["live"]["state"] == "ready"
    assert api("DELETE", "/pool/slots/static-de-1") == {"removed": "static-de-1"}
    assert api("GET", "/pool/slots/static-de-1", 404)["error"]["code"] == "not_found"
    assert "Pw-Static-1" not in str(api("GET", "/pool/slots"))


@pytest.mark.parametrize(("method", "path", "kwargs", "field"), [
    ("POST", "/pool/provision", {"json": {"provider": "luna", "countries": {"zz": 1}}}, "countries.zz"),
    ("POST", "/pool/provision", {"json": {"provider": "luna", "countries": {"us": "many"}}}, "countries.us"),
    ("POST", "/pool/provision", {"json": {"provider": "luna", "countries": []}}, "countries"),
    ("POST", "/pool/provision", {"data": "not json"}, "body"),
    ("POST", "/pool/provision", {"json": [1, 2]}, "body"),
    ("POST", "/pool/slots", {"json": {"url": "ftp://h:1", "country": "us"}}, "url"),
    ("POST", "/pool/slots", {"json": {"url": "socks5://h:1", "country": "atlantis"}}, "country"),
    ("POST", "/pool/slots", {"json": {"url": "socks5://h:1", "country": "us", "id": "../x"}}, "id"),
    ("POST", "/pool/import", {"data": "url\nsocks5://h:1"}, "csv"),
    ("GET", "/pool/size?peak_clicks_per_s=x&trace_s=1", {}, "peak_clicks_per_s"),
    ("GET", "/pool/size?trace_s=1", {}, "peak_clicks_per_s"),
    ("GET", "/pool?country=xx", {}, "country"),
])
def test_bad_input_is_a_400_naming_the_field(api, method, path, kwargs, field):
    """Invalid input answers 400 with the offending field, and changes nothing."""
    body = api(method, path, 400, **kwargs)
    assert body["error"]["code"] == "invalid"
    assert body["error"]["field"] == field
    assert api("GET", "/pool/slots")["slots"] == []


def test_unknown_routes_and_methods_answer_json(api):
    """An unknown route is 404 JSON, a wrong method 405 JSON."""
    assert api("GET", "/nope", 404)["error"]["code"] == "not_found"
    assert api("PUT", "/pool", 405)["error"]["code"] == "method_not_allowed"

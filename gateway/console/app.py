"""The console as a Bottle app: sign-in and sign-out, the gate in front of every other page (a session; on a POST
also its CSRF token and the admin role: viewers are refused by the server, not only by the page), static files,
and the pages of each area, registered from their own modules."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from urllib.parse import quote

from bottle import Bottle, HTTPResponse, request, static_file

from gateway.console import web
from gateway.console.gate import ADMIN, Gate, SignInRefused, TooManySignIns
from gateway.errors import ValidationError
from gateway.routes.clients import Clients
from gateway.routes.errors import problem_for
from gateway.routes.wsgi import WSGIApp
from store.errors import StoreError

PUBLIC = ("/signin", "/static/", "/favicon.ico")
LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9_\-./]*")  # after sign-in: a page of ours, never //host or /\host


def local(path: str) -> str:
    """`path` when it is a page of ours (the only place sign-in may lead to), else `/`."""
    return path if LOCAL_PATH.fullmatch(path) else "/"


def build(gate: Gate, clients: Clients, pages: Sequence[Callable[[Bottle], object]]) -> WSGIApp:
    """The console: the gate, sign-in and out, static files, and `pages` (each registers its routes on the app)."""
    app = Bottle(catchall=True)
    app.default_error_handler = web.error_page
    app.install(web.pages)

    @app.hook("before_request")
    def guard() -> None:
        request.environ["console.https"] = clients.https(request.environ)
        if request.path.startswith(PUBLIC):
            return
        try:
            found = gate.session(request.get_cookie(web.COOKIE))
        except StoreError as exc:
            raise web.failure_page(exc) from None
        if found is None:
            if request.method == "GET" and not request.path.startswith("/jobs/"):
                raise HTTPResponse(status=303, headers={"Location": "/signin?next=" + quote(local(request.path))})
            raise web.problem_page(401, "Your session has ended: sign in again.")
        request.environ["console.session"] = found
        if request.method == "POST":
            try:
                given = web.posted_csrf()
            except ValidationError as exc:
                raise web.failure_page(exc) from None
            if not gate.csrf_ok(found, given):
                raise web.problem_page(403, "This form has expired (its CSRF token does not match): reload the "
                                            "page and try again.")
            if found.role != ADMIN and request.path != "/signout":
                raise web.problem_page(403, "Viewers can look at everything but change nothing: sign in with the "
                                            "admin token to do that.")

    @app.get("/static/<name>")
    def static(name: str) -> HTTPResponse:
        answer = static_file(name, root=str(web.STATIC))
        answer.set_header("Cache-Control", "no-cache")
        return answer

    @app.get("/favicon.ico")
    def favicon() -> HTTPResponse:
        return static("favicon.svg")

    @app.get("/signin")
    def sign_in_page() -> HTTPResponse:
        return sign_in_form()

    @app.post("/signin")
    def sign_in() -> HTTPResponse:
        try:
            posted = web.form()
        except ValidationError:
            return sign_in_form("The form could not be read (it was not UTF-8 text): try again.", 400)
        expected = request.get_cookie(web.SIGN_IN_CSRF) or ""
        if not expected or not secrets.compare_digest(posted.get("csrf", ""), expected):
            return sign_in_form("This form has expired: try again.", 403)
        try:
            cookie, _ = gate.sign_in(posted.get("token", ""), clients.address(request.environ),
                                              replacing=request.get_cookie(web.COOKIE))
        except (SignInRefused, TooManySignIns) as exc:
            return sign_in_form(str(exc), problem_for(exc, "console sign-in").status)
        answer = web.go(local(posted.get("next", "/")))
        answer.set_cookie(web.COOKIE, cookie, path="/", httponly=True, samesite="strict", secure=web.secure(),
                          max_age=gate.tokens.session_ttl_s)
        answer.delete_cookie(web.SIGN_IN_CSRF, path="/signin")
        return answer

    @app.post("/signout")
    def sign_out() -> HTTPResponse:
        gate.sign_out(request.get_cookie(web.COOKIE))
        answer = web.go("/signin")
        answer.delete_cookie(web.COOKIE, path="/")
        return answer

    @app.post("/signout-everywhere")
    def sign_out_everywhere() -> HTTPResponse:
        """Admins only (the gate): every session ends, this one too."""
        gate.sign_out_everywhere()
        answer = web.go("/signin", "Every console session has ended: sign in again.")
        answer.delete_cookie(web.COOKIE, path="/")
        return answer

    def sign_in_form(error: str = "", status: int = 200) -> HTTPResponse:
        csrf = request.get_cookie(web.SIGN_IN_CSRF) or secrets.token_urlsafe(24)  # two tabs share one
        answer = web.render("signin", status, error=error, csrf=csrf, next_path=local(request.query.get("next", "/")),
                            viewers=bool(gate.tokens.viewer))
        answer.set_cookie(web.SIGN_IN_CSRF, csrf, path="/signin", httponly=True, samesite="strict",
                          secure=web.secure())
        return answer

    for register in pages:
        register(app)
    return web.with_headers(app)

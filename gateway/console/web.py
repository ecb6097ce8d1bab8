"""What every console page shares: templates (escaped by default), the signed-in session and its CSRF token, a
one-shot notice carried across a redirect, the security headers, and errors as pages (never a stack trace)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, unquote

from bottle import HTTPError, HTTPResponse, request, response, template

from gateway import text
from gateway.errors import ValidationError
from gateway.routes.errors import problem_for
from gateway.routes.wsgi import StartResponse, WSGIApp
from store.console import Session

VIEWS = str(Path(__file__).with_name("views"))
STATIC = Path(__file__).with_name("static")
COOKIE, NOTICE, SIGN_IN_CSRF = "gw_console", "gw_notice", "gw_sign_in"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}
NAV = (("/", "Overview"), ("/offers", "Offers"), ("/pool", "Pool"), ("/traces", "Traces"), ("/trace-tool", "Trace"))


def session() -> Session | None:
    return cast("Session | None", request.environ.get("console.session"))


def secure() -> bool:
    """Cookies are `Secure` when the client reached us over HTTPS (the gate sets it, by `routes/clients.py`)."""
    return bool(request.environ.get("console.https"))


def render(name: str, status: int = 200, /, **values: Any) -> HTTPResponse:
    """The page `name` (views/NAME.tpl) in the layout, with the session, the navigation and any notice."""
    notice = unquote(request.get_cookie(NOTICE) or "")
    page = template(name, template_lookup=[VIEWS], session=session(), nav=NAV, path=request.path,
                    notice=notice, **values)
    answer = HTTPResponse(page, status=status, headers={"Content-Type": "text/html; charset=utf-8"})
    if notice:
        answer.delete_cookie(NOTICE, path="/")
    return answer


def go(path: str, notice: str = "") -> HTTPResponse:
    """303 to `path` (after a POST), with a notice the next page shows once."""
    answer = HTTPResponse(status=303, headers={"Location": path})
    if notice:
        answer.set_cookie(NOTICE, quote(notice[:500]), path="/", httponly=True, samesite="strict", secure=secure())
    return answer


def form() -> dict[str, str]:
    """The posted form as text; ValidationError for a form that cannot be read (not UTF-8, a broken body) or a
    field no store can hold."""
    try:
        fields = request.forms.decode()
    except (UnicodeError, OSError, ValueError):
        raise ValidationError("form", "cannot be read: it is not UTF-8 text in a well-formed body") from None
    return {text.check(name, "form field name"): text.check(value, name) for name, value in fields.items()}


def posted_csrf() -> str:
    """The CSRF token a POST carries (its form's `csrf`, else the X-CSRF-Token header); ValidationError when the
    request cannot be read."""
    given = request.environ.get("HTTP_X_CSRF_TOKEN", "")  # raw: never decoded
    return form().get("csrf") or given


def failure_page(exc: Exception) -> HTTPResponse:
    """`exc` as a page with its status and message (routes/errors.py: a store down names no address, a bug is a
    500 with its traceback in the log)."""
    found = problem_for(exc, f"console {request.method} {request.path}")
    return problem_page(found.status, f"{found.field}: {found.message}" if found.field else found.message)


def problem_page(status: int, message: str) -> HTTPResponse:
    return render("error", status, status_code=status, message=message)


def pages(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Bottle plugin: what a page raises becomes a page with its status (routes/errors.py); unexpected errors are
    logged and shown as one line."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except (HTTPResponse, HTTPError):
            raise
        except Exception as exc:
            return failure_page(exc)

    return wrapper


def error_page(err: HTTPError) -> str:
    """Bottle's own errors (no such page, wrong method) as a console page."""
    response.set_header("Content-Type", "text/html; charset=utf-8")
    message = {404: "There is no such page.", 405: "That action is not possible here."}.get(
        err.status_code, "internal error; see the gateway log")
    return cast(str, problem_page(err.status_code, message).body)


def with_headers(app: WSGIApp) -> WSGIApp:
    """WSGI middleware: the security headers on every console response."""
    def wrapped(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            names = {name.lower() for name, _ in headers}
            extra = [(k, v) for k, v in HEADERS.items() if k.lower() not in names]
            return start_response(status, headers + extra, exc_info)
        return app(environ, start)

    return wrapped

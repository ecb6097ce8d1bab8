"""Where a page sends the browser on its own: the `Refresh` header, `<meta http-equiv="refresh">` and static
JavaScript navigations (`location = ...`, `location.href = ...`, `location.replace(...)`, ... also inside
`setTimeout`). Each comes with the delay after which a browser would follow it; the earliest wins, and a
script running while the page is parsed beats a refresh of the same delay.

Only what a browser would run counts: scripts of a JavaScript type, never commented-out code, never meta
tags inside `<noscript>` (scripting is on), never scripts in a text/plain or JSON response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

JS_TYPES = frozenset({"", "text/javascript", "application/javascript", "module", "text/ecmascript",
                      "application/ecmascript", "application/x-javascript", "text/jscript", "text/livescript"})
TARGET = r"(?<![\w$.])(?:(?:window|self|top|parent|document|globalThis)\s*\.\s*){0,2}location"
ASSIGNMENT = re.compile(TARGET + r"(?:\s*\.\s*href)?\s*=(?!=)\s*")
CALL = re.compile(TARGET + r"\s*\.\s*(?:replace|assign)\s*\(\s*")
TIMEOUT = re.compile(r"(?<![\w$.])(?:window\s*\.\s*)?setTimeout\s*\(")
VARIABLE = re.compile(r"(?<![\w$.])(?:var|let|const)\s+([A-Za-z_$][\w$]*)\s*=\s*")
IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*")
NUMBER = re.compile(r"\s*(\d+(?:\.\d*)?)\s*$")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
# A script navigating while the page is parsed beats a refresh header, which beats a meta refresh.
RANK = {"js": 0, "refresh_header": 1, "meta_refresh": 2}
DIGITS, FRACTION = re.compile(r"\d*"), re.compile(r"[\d.]*")


@dataclass(frozen=True)
class Navigation:
    kind: str  # refresh_header | meta_refresh | js
    target: str  # as written in the page, to be resolved against the document's base URL
    delay_ms: float
    position: int = 0

    def key(self) -> tuple[float, int, int]:
        return self.delay_ms, RANK[self.kind], self.position


def _matched(pattern: re.Pattern[str], text: str, at: int) -> str:
    """What `pattern`, which also matches the empty string, matches at `at`."""
    found = pattern.match(text, at)
    return found.group(0) if found else ""


def parse_refresh(content: str) -> tuple[float, str | None] | None:
    """The HTML standard's shared declarative refresh steps: `N`, `N; url=URL`, `N, URL`, `N URL='...'`.
    Returns (delay in seconds, URL or None for "this page"), or None when the value is not a refresh."""
    text, i = content, 0
    i = _skip_space(text, i)
    digits = _matched(DIGITS, text, i)
    if not digits and text[i:i + 1] != ".":
        return None
    delay = float(int(digits or 0))
    i += len(digits) + len(_matched(FRACTION, text, i + len(digits)))
    if i < len(text):
        if text[i] not in ";," and not text[i].isspace():
            return None
        i = _skip_space(text, i)
        if text[i:i + 1] in (";", ","):
            i = _skip_space(text, i + 1)
    if i >= len(text):
        return delay, None
    if text[i:i + 3].lower() == "url":
        j = _skip_space(text, i + 3)
        if text[j:j + 1] == "=":
            i = _skip_space(text, j + 1)
    url = text[i:]
    if url[:1] in ("'", '"'):
        url = url[1:].split(url[0], 1)[0]
    return delay, url.strip() or None


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\n\f\r":
        i += 1
    return i


def from_refresh_header(value: str | None) -> Navigation | None:
    parsed = parse_refresh(value) if value else None
    if not parsed or parsed[1] is None:
        return None
    return Navigation("refresh_header", parsed[1], parsed[0] * 1000)


@dataclass
class Document:
    """What a browser would do with an HTML document: its base href and the navigations it would start."""

    base_href: str | None
    navigations: list[Navigation]

    def first(self, extra: Navigation | None = None) -> Navigation | None:
        candidates = self.navigations + ([extra] if extra else [])
        return min(candidates, key=Navigation.key) if candidates else None


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base_href: str | None = None
        self.navigations: list[Navigation] = []
        self.noscript = 0
        self.script_type: str | None = None
        self.script: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "noscript":
            self.noscript += 1
        elif tag == "base" and self.base_href is None and values.get("href"):
            self.base_href = values["href"].strip()
        elif tag == "meta" and not self.noscript and values.get("http-equiv", "").strip().lower() == "refresh":
            parsed = parse_refresh(values.get("content", ""))
            if parsed and parsed[1]:
                self.navigations.append(Navigation("meta_refresh", parsed[1], parsed[0] * 1000, self.getpos()[0]))
        elif tag == "script":
            kind = values.get("type", "").split(";")[0].strip().lower()
            self.script_type = None if "src" in values else kind
            self.script = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "noscript" and self.noscript:
            self.noscript -= 1
        elif tag == "script":
            if self.script_type in JS_TYPES:
                self.navigations += scan_script("".join(self.script), position=self.getpos()[0])
            self.script_type = None

    def handle_data(self, data: str) -> None:
        if self.script_type is not None:
            self.script.append(data)


def scan_html(text: str) -> Document:
    """The base href and every navigation a browser would start from this HTML."""
    scanner = _Scanner()
    try:
        scanner.feed(text)
        scanner.close()
    except (AssertionError, ValueError):  # html.parser gives up on some broken markup; keep what it saw
        pass
    return Document(scanner.base_href, scanner.navigations)


NAVIGATING_CODE = re.compile(r"location|\.submit\s*\(|reload|\beval\b|atob|document\.write|fetch\s*\(|window\.open|"
                             r"\.click\s*\(|\bhref\b", re.IGNORECASE)
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script", re.IGNORECASE | re.DOTALL)
EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=", re.IGNORECASE)
ONLOAD = re.compile(r"<(?:body|frameset|svg|img|iframe)\b[^>]*\bonload\s*=", re.IGNORECASE)
MARKUP = re.compile(r"<script\b.*?</script\s*>|<style\b.*?</style\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
GATE_TEXT_CHARS = 200


def needs_script(text: str) -> bool:
    """Would a browser still leave this page, which the static reader found no navigation on? An `onload`
    handler, an inline script whose code (not its comments or strings) touches navigation (location, a form's
    submit, reload, eval, atob, document.write, fetch, ...), or an external script on a page with next to no text
    of its own (a gate, not a landing page). `auto` traces continue in a browser from such a page."""
    if ONLOAD.search(text) or any(NAVIGATING_CODE.search(_mask_strings(strip_comments(code)))
                                  for code in INLINE_SCRIPT.findall(text)):
        return True
    return bool(EXTERNAL_SCRIPT.search(text)) and len(" ".join(MARKUP.sub(" ", text).split())) < GATE_TEXT_CHARS


def might_navigate(text: str) -> bool:
    """A cheap check before parsing: could this document hold a refresh or a script navigation at all?"""
    lowered = text.lower()
    return "refresh" in lowered or ("<script" in lowered and "location" in lowered)


# -- JavaScript, statically ------------------------------------------------------------------------------------

def scan_script(code: str, delay_ms: float = 0, position: int = 0) -> list[Navigation]:
    """Navigations in a script: assignments to and calls on `location`, with the delay of an enclosing
    `setTimeout`. Only string literals, their concatenation and variables holding them are understood."""
    code = strip_comments(code)
    masked = _mask_strings(code)
    variables = _string_variables(code, masked)
    timers = _timeouts(code, masked)
    found = []
    for pattern, closing in ((ASSIGNMENT, None), (CALL, ")")):
        for match in pattern.finditer(masked):
            value = _evaluate(code, match.end(), variables, closing)
            if value is None:
                continue
            delay = max((d for start, end, d in timers if start <= match.start() < end), default=0.0)
            found.append(Navigation("js", value, delay_ms + delay, position))
    for delay, inner in _string_timeouts(code, masked, variables):
        found += scan_script(inner, delay_ms + delay, position)
    return found


def _mask_strings(code: str) -> str:
    """`code` with the inside of every string literal blanked, same length: patterns then match code only."""
    out, i = [], 0
    while i < len(code):
        if code[i] in "'\"`":
            end = _string_end(code, i)
            out.append(code[i] + " " * max(0, end - i - 2) + code[end - 1] if end - i >= 2 else code[i:end])
            i = end
        else:
            out.append(code[i])
            i += 1
    return "".join(out)


def strip_comments(code: str) -> str:
    """The code with `//`, `/* */` and `<!--`/`-->` line comments removed; strings, template literals and
    regular-expression literals are respected."""
    out, i, n = [], 0, len(code)
    last = ""
    while i < n:
        char = code[i]
        if char in "'\"`":
            end = _string_end(code, i)
            out.append(code[i:end])
            i, last = end, "x"
        elif _line_comment_at(code, i):
            i = code.find("\n", i)
            i = n if i < 0 else i
        elif code.startswith("/*", i):
            end = code.find("*/", i + 2)
            i = n if end < 0 else end + 2
            out.append(" ")
        elif char == "/" and (not last or last in "(,=:[!&|?{};+-*%<>~^"):
            end = _regex_end(code, i)
            out.append(code[i:end])
            i, last = end, "x"
        else:
            out.append(char)
            if not char.isspace():
                last = char
            i += 1
    return "".join(out)


def _line_comment_at(code: str, i: int) -> bool:
    """`//`, `<!--`, or `-->` first on its line: each comments out the rest of the line."""
    if code.startswith(("//", "<!--"), i):
        return True
    return code.startswith("-->", i) and code[code.rfind("\n", 0, i) + 1:i].strip() == ""


def _string_end(code: str, start: int) -> int:
    quote, i = code[start], start + 1
    while i < len(code):
        if code[i] == "\\":
            i += 2
            continue
        if code[i] == quote or (code[i] == "\n" and quote != "`"):
            return i + 1
        i += 1
    return len(code)


def _regex_end(code: str, start: int) -> int:
    i, in_class = start + 1, False
    while i < len(code) and code[i] != "\n":
        if code[i] == "\\":
            i += 2
            continue
        if code[i] == "[":
            in_class = True
        elif code[i] == "]":
            in_class = False
        elif code[i] == "/" and not in_class:
            return i + 1
        i += 1
    return start + 1


def _decode(literal: str) -> str | None:
    """The value of a JS string literal (quotes included), or None for a template with substitutions."""
    quote, body = literal[0], literal[1:-1] if len(literal) > 1 and literal[-1] == literal[0] else None
    if body is None or (quote == "`" and "${" in body):
        return None
    out, i = [], 0
    while i < len(body):
        char = body[i]
        if char != "\\" or i + 1 == len(body):
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", body[i + 2:i + 4]):
            out.append(chr(int(body[i + 2:i + 4], 16)))
            i += 4
        elif nxt == "u" and body[i + 2:i + 3] == "{":
            end = body.find("}", i)
            out.append(chr(int(body[i + 3:end], 16)) if end > 0 else "")
            i = end + 1 if end > 0 else len(body)
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2:i + 6]):
            out.append(chr(int(body[i + 2:i + 6], 16)))
            i += 6
        elif nxt == "\n":
            i += 2
        else:
            out.append(ESCAPES.get(nxt, nxt))
            i += 2
    return "".join(out)


def _evaluate(code: str, start: int, variables: dict[str, str], closing: str | None) -> str | None:
    """Evaluate `"a" + name + 'b'` starting at `start`; None when any part is not a known string."""
    parts, i = [], start
    while True:
        while i < len(code) and code[i] in " \t\r\n":
            i += 1
        if i < len(code) and code[i] in "'\"`":
            end = _string_end(code, i)
            value = _decode(code[i:end])
        else:
            match = IDENTIFIER.match(code, i)
            end = match.end() if match else i
            value = variables.get(re.sub(r"\s+", "", match.group(0))) if match else None
        if value is None:
            return None
        parts.append(value)
        i = end
        while i < len(code) and code[i] in " \t\r\n":
            i += 1
        if i < len(code) and code[i] == "+":
            i += 1
            continue
        if closing and (i >= len(code) or code[i] != closing):
            return None
        return "".join(parts)


def _string_variables(code: str, masked: str) -> dict[str, str]:
    variables: dict[str, str] = {}
    for match in VARIABLE.finditer(masked):
        value = _evaluate(code, match.end(), variables, None)
        if value is not None:
            variables[match.group(1)] = variables[f"window.{match.group(1)}"] = value
    return variables


def _call_span(code: str, open_paren: int) -> tuple[int, list[tuple[int, int]]]:
    """End of the call whose `(` is at `open_paren`, and the spans of its top-level arguments."""
    depth, i, args, arg_start = 0, open_paren, [], open_paren + 1
    while i < len(code):
        char = code[i]
        if char in "'\"`":
            i = _string_end(code, i)
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                args.append((arg_start, i))
                return i + 1, args
        elif char == "," and depth == 1:
            args.append((arg_start, i))
            arg_start = i + 1
        i += 1
    return len(code), args


def _timeout_delay(code: str, args: list[tuple[int, int]]) -> float:
    number = NUMBER.match(code[args[1][0]:args[1][1]]) if len(args) > 1 else None
    return float(number.group(1)) if number else 0.0


def _timeouts(code: str, masked: str) -> list[tuple[int, int, float]]:
    """(start, end, delay_ms) of each `setTimeout(...)` call."""
    spans = []
    for match in TIMEOUT.finditer(masked):
        end, args = _call_span(code, match.end() - 1)
        if args:
            spans.append((match.start(), end, _timeout_delay(code, args)))
    return spans


def _string_timeouts(code: str, masked: str, variables: dict[str, str]) -> list[tuple[float, str]]:
    """`setTimeout("location.href='...'", 500)`: the delay and code string of each such call."""
    found = []
    for match in TIMEOUT.finditer(masked):
        _, args = _call_span(code, match.end() - 1)
        if args and code[args[0][0]:args[0][1]].strip()[:1] in "'\"`":
            inner = _evaluate(code, args[0][0], variables, None)
            if inner is not None:
                found.append((_timeout_delay(code, args), inner))
    return found

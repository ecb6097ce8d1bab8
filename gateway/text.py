"""Text the stores can hold. PostgreSQL's text and jsonb hold neither NUL nor a lone surrogate (a UTF-16 half
that Python strings can carry: a JSON `\\ud800` escape, or an undecodable byte of a command-line argument).

Input from a request or a command is refused at the edge, naming the field (`check`, `checked_json`); text a
traced chain handed out, which nobody can refuse, is stored with those characters replaced (`scrub`).
JSON bodies also have a nesting limit, checked before a deep document can exhaust the parser's recursion.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gateway.errors import ValidationError

UNHOLDABLE = re.compile("[\x00\ud800-\udfff]")
MAX_JSON_DEPTH = 32
JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def problem(text: str) -> str | None:
    """What a store cannot hold in `text` ("a NUL character", "a lone surrogate"), or None."""
    found = UNHOLDABLE.search(text)
    if found is None:
        return None
    return "a NUL character" if found.group(0) == "\x00" else "a lone surrogate (not valid Unicode)"


def check(value: str, field: str) -> str:
    """`value` unchanged, or ValidationError naming `field` when a store could not hold it."""
    found = problem(value)
    if found:
        raise ValidationError(field, f"must not contain {found}")
    return value


def scrub(value: Any) -> Any:
    """`value` (strings, lists, tuples, dicts) with every NUL and lone surrogate replaced by U+FFFD."""
    if isinstance(value, str):
        return UNHOLDABLE.sub("\ufffd", value) if UNHOLDABLE.search(value) else value
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    return value


def checked_json(raw: bytes, field: str = "body", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON document whose nesting is at most `max_depth` and whose every key and string a store can hold;
    ValidationError naming `field` (or the path inside it: `name`, `countries.us`, `params[2]`) otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(field, "is not UTF-8") from None
    if _depth(raw) > max_depth:
        raise ValidationError(field, f"nests deeper than {max_depth} levels")
    try:
        data = json.loads(text)
    except ValueError:
        raise ValidationError(field, "is not valid JSON") from None
    _walk(data, "")
    return data


def _depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects, strings skipped: a flat scan, not a recursive parse."""
    depth = deepest = 0
    for bracket in JSON_STRING.sub(b"", raw).translate(None, NOT_BRACKETS):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _walk(value: Any, path: str) -> None:
    if isinstance(value, str):
        check(value, path or "body")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _walk(item, f"{path}[{n}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else key
            check(key, (path or "body") + " key")
            _walk(item, name)

"""Properties of URL building, macro substitution and parameter merging, over generated input (hypothesis):
the output is always a valid URL, every inbound value travels encoded, nothing is dropped."""

from __future__ import annotations

import string
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.clicks import click as clicks
from gateway.tracing import params, urls

# Text as clicks bring it: any code point but lone surrogates (a query string is UTF-8 and cannot carry one)
# and NUL (refused at the edge: no store can hold it).
CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
TEXT = st.text(CHARS, max_size=40)
NAMES = st.text(CHARS, min_size=1, max_size=20)
PAIRS = st.lists(st.tuples(NAMES, TEXT), max_size=8)
MACRO_NAME = st.text(string.ascii_letters + string.digits + "_", min_size=1, max_size=12)
SAFE = st.text(string.ascii_letters + string.digits + "-._~", min_size=1, max_size=12)
PRINTABLE_ASCII = set(map(chr, range(0x21, 0x7F)))


@st.composite
def templates(draw) -> tuple[str, list[str], list[tuple[str, str]]]:
    """An offer's tracking URL: a host, a path, query parameters whose values are literals or macros."""
    host = draw(st.sampled_from(["aff.example", "127.0.0.1:8080", "xn--caf-dma.example"]))
    path = "/".join(draw(st.lists(SAFE, max_size=3)))
    macros = draw(st.lists(MACRO_NAME, max_size=4, unique=True))
    literals = draw(st.lists(st.tuples(SAFE, SAFE), max_size=3))
    query = [f"{name}={{{name}}}" for name in macros] + [f"{k}={v}" for k, v in literals]
    fragment = draw(st.sampled_from(["", "#top"]))
    return f"https://{host}/{path}?{'&'.join(query)}{fragment}", macros, literals


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def assert_valid(url: str, like: str) -> None:
    """A URL a Location header can carry, with the scheme, host and path it started from."""
    assert set(url) <= PRINTABLE_ASCII, url
    before, after = urlsplit(like), urlsplit(url)
    assert (after.scheme, after.netloc, after.path, after.fragment) == (
        before.scheme, before.netloc, before.path, before.fragment)
    assert urls.normalize(url)


@settings(max_examples=300, deadline=None)
@given(templates(), st.data())
def test_fill_encodes_every_value_and_passes_on_only_what_the_offer_lets_through(template, data):
    """Macros take the first inbound value of their name; the other inbound pairs whose names the pass-through
    list lets through are appended, in order, unless the template names them (the offer's own parameters win);
    the rest stay behind."""
    url_template, macros, literals = template
    own = macros + [name for name, _ in literals]
    names = st.one_of(st.sampled_from(own), NAMES, st.sampled_from(["gclid", "utm_x", "to"])) if own else NAMES
    inbound = data.draw(st.lists(st.tuples(names, TEXT), max_size=8))
    entries = data.draw(st.lists(st.one_of(NAMES.map(lambda n: n.replace("*", "")), st.just("*"),
                                           st.just("utm_*"), st.just("gclid")), max_size=4))
    passes = params.PassThrough.of([e for e in entries if e])
    filled = params.fill(url_template, inbound, passes)
    assert_valid(filled, url_template)
    first: dict[str, str] = {}
    for name, value in inbound:
        first.setdefault(name, value)
    assert query_of(filled) == [(m, first.get(m, "")) for m in macros] + literals + [
        pair for pair in inbound if pair[0] not in own and (
            "*" in entries or pair[0] in entries or ("utm_*" in entries and pair[0].startswith("utm_")))]


@settings(max_examples=300, deadline=None)
@given(templates(), st.data())
def test_merge_keeps_the_final_query_adds_the_chains_and_inbound_wins(template, data):
    """The final URL's own pairs (unless inbound names them), then the chain's it lacks, then all inbound."""
    final_url = params.fill(template[0], [])
    own_names = [name for name, _ in query_of(final_url)]
    names = st.one_of(st.sampled_from(own_names), NAMES) if own_names else NAMES
    chain, inbound = (data.draw(st.lists(st.tuples(names, TEXT), max_size=8)) for _ in range(2))
    merged = params.merge(final_url, chain, inbound)
    assert_valid(merged, final_url)
    inbound_names = {name for name, _ in inbound}
    kept = [pair for pair in query_of(final_url) if pair[0] not in inbound_names]
    present = {name for name, _ in kept} | inbound_names
    added = []
    for name, value in chain:
        if name not in present:
            present.add(name)
            added.append((name, value))
    assert query_of(merged) == kept + added + list(inbound)


@settings(max_examples=300, deadline=None)
@given(PAIRS)
def test_a_query_reads_back_exactly(pairs):
    raw = params.append("https://x.example/", pairs).partition("?")[2]
    encoded = raw.encode("utf-8").decode("latin-1")  # as WSGI hands a query string over
    assert params.parse_query(encoded, 1 << 20) == list(pairs)


@settings(max_examples=100, deadline=None)
@given(PAIRS, st.integers(0, 7), st.booleans())
def test_a_nul_anywhere_in_a_query_is_refused(pairs, where, in_name):
    """A NUL, escaped or not, in any name or value is a 400: no store could keep the click's record."""
    pairs = list(pairs) or [("gclid", "x")]
    name, value = pairs[where % len(pairs)]
    pairs[where % len(pairs)] = (name + "\x00", value) if in_name else (name, value + "\x00")
    raw = params.append("https://x.example/", pairs).partition("?")[2]
    with pytest.raises(params.BadQuery) as refused:
        params.parse_query(raw.encode("utf-8").decode("latin-1"), 1 << 20)
    assert not isinstance(refused.value, params.QueryTooLong) and "NUL" in str(refused.value)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_safe_location_is_header_safe_and_loses_nothing(text):
    url = f"https://land.example/p?x={text}"
    location = clicks.safe_location(url)
    assert set(location) <= PRINTABLE_ASCII
    assert unquote(location) == unquote(url)

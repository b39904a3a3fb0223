"""What every protocol module shares: request building, the canonical body encoding,
reading a 2xx body into a Reply, and the fallback ladder for a 400 that names a
parameter the server rejects."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import orjson

from judgekit.providers.failures import MalformedReply
from judgekit.providers.provider_errors import provider_error
from judgekit.records import Endpoint, ModelCall, OutputMode, Reply, Usage
from judgekit.unicode_text import utf8_text, utf8_values

JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}


def post_json(
    url: str, headers: dict[str, str], body: dict[str, Any], fixed: tuple[object, ...] = ()
) -> httpx.Request:
    """A POST of ``body`` as canonical JSON (the cache hashes URL + body); ``fixed``: see
    ``encode_body``."""
    content = encode_body(body, fixed)
    parsed = parsed_url(url)
    ready = _fixed_headers(url, tuple(headers.items()))
    if ready is None:
        return httpx.Request("POST", parsed, headers=headers, content=content)
    known, raw = ready
    # The request httpx builds from ``content=``, header for header and in the same
    # order, without re-normalising the same few headers on every call.
    prepared = httpx.Headers(known)
    prepared["Content-Length"] = str(len(content))
    request = httpx.Request(
        "POST",
        parsed,
        headers=prepared,
        stream=httpx.ByteStream(content),
        # Hashable: a transport can build its own form of them once per distinct set
        # (engine.transport), not once per call.
        extensions={FIXED_HEADERS: raw},
    )
    request.read()
    return request


FIXED_HEADERS = "judgekit.fixed_headers"
"""Request extension: the headers a request sends besides Content-Length, as a tuple of
raw ``(name, value)`` byte pairs in sending order."""


@functools.lru_cache(maxsize=64)
def _fixed_headers(
    url: str, items: tuple[tuple[str, str], ...]
) -> tuple[httpx.Headers, tuple[tuple[bytes, bytes], ...]] | None:
    """What httpx sends before Content-Length (Host first, then ours), as headers and as
    raw pairs; None when ours already hold a header httpx would otherwise add, and httpx
    must decide."""
    headers = httpx.Headers(dict(items))
    if any(name in headers for name in ("Host", "Content-Length", "Transfer-Encoding")):
        return None
    parsed = parsed_url(url)
    host = [(b"Host", parsed.netloc)] if parsed.host else []
    raw = tuple(host + headers.raw)
    return httpx.Headers(list(raw)), raw


@functools.lru_cache(maxsize=256)
def endpoint_url(base_url: str, path: str, model: str = "") -> str:
    """``path`` joined to ``base_url`` as a URL, not a string: it goes after the base's
    path (trailing slashes dropped) and before its query, which is kept; a fragment is
    dropped.  ``{model}`` in the base is replaced by the percent-encoded model (Azure
    deployment URLs).  ``https://x/openai/deployments/j?api-version=1`` +
    ``chat/completions`` -> ``https://x/openai/deployments/j/chat/completions?api-version=1``.
    """
    if "{model}" in base_url:
        base_url = base_url.replace("{model}", quote(model, safe=""))
    parts = urlsplit(base_url)
    joined = parts.path.rstrip("/") + "/" + path.lstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, joined, parts.query, ""))


def base_path(base_url: str) -> str:
    """The path of ``base_url`` without its query or trailing slashes (``/v1``)."""
    return urlsplit(base_url).path.rstrip("/")


def request_headers(
    endpoint: Endpoint, key_header: str = "authorization", fixed: Mapping[str, str] | None = None
) -> dict[str, str]:
    """JSON headers, the protocol's ``fixed`` ones, the key, then the connection's own.

    The key goes in ``endpoint.key_header`` when the connection names one, else in the
    protocol's ``key_header``; ``authorization`` carries it as ``Bearer KEY``, any other
    header as the bare key.  The connection's ``headers`` come last and replace a
    same-named header (names compared case-insensitively)."""
    headers = {**JSON_HEADERS, **(fixed or {})}
    if endpoint.api_key:
        name = (endpoint.key_header or key_header).lower()
        headers[name] = (
            f"Bearer {endpoint.api_key}" if name == "authorization" else endpoint.api_key
        )
    for name, value in endpoint.headers.items():
        for existing in [k for k in headers if k.lower() == name.lower()]:
            del headers[existing]
        headers[name] = value
    return headers


def fixed_parts(call: ModelCall) -> tuple[object, ...]:
    """What a call's body holds that is the same object on every call of its judge (the
    plan's JSON schema and params values), for ``encode_body``'s ``fixed``."""
    if call.params:
        return (call.json_schema, *call.params.values())
    return (call.json_schema,)


def with_params(body: dict[str, Any], params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``body`` with ``params`` merged in last: a table merges into the body's table of
    the same name (``text = {verbosity = "low"}`` keeps ``text.format``), any other
    value adds or replaces the member.  ``body`` itself is not changed."""
    if not params:
        return body
    merged = dict(body)
    for key, value in params.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merged[key] = with_params(current, value)
        else:
            merged[key] = value
    return merged


def make_reply(
    body: dict[str, Any], text: str, usage: Usage | None, response: httpx.Response
) -> Reply:
    """A Reply naming the model and response id the body gives (else the model asked)."""
    model = body.get("model")
    response_id = body.get("id")
    return Reply(
        text=text,
        usage=usage,
        model=model if isinstance(model, str) and model else requested_model(response),
        response_id=response_id if isinstance(response_id, str) else None,
    )


@functools.lru_cache(maxsize=64)
def parsed_url(url: str) -> httpx.URL:
    """``url`` parsed once: httpx re-parses a string URL on every request."""
    return httpx.URL(url)


def encode_body(body: dict[str, Any], fixed: tuple[object, ...] = ()) -> bytes:
    """Compact, deterministic JSON (insertion order kept: schema key order matters to the
    model, which writes fields in that order), UTF-8, non-ASCII unescaped.

    The bytes are the cache key's, so they never change with the encoder: orjson writes
    what ``json.dumps(separators=(",", ":"), ensure_ascii=False)`` writes for strings,
    integers up to 64 bits and floats that Python prints without an exponent (0, and
    1e-4 <= |x| < 1e16: checked on 700,000 random values); a body holding any other
    value (``1e-05``, a 65-bit integer, a Mapping that is not a dict) goes through the
    standard library's encoder.  ``fixed`` names parts of ``body`` that are the same
    objects, never changed, on every call of a judge (its schema, its params): they are
    checked once, not on every call.  orjson takes ~3 us for a 4 KB judge prompt where
    ``json`` takes ~20."""
    if _orjson_exact(body, fixed):
        try:
            return orjson.dumps(body)
        except TypeError:  # orjson.JSONEncodeError: a >64-bit integer, a lone surrogate
            pass
    text = _BODY_ENCODER.encode(body)
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate from the data (a JSON string in a field, such as tool calls or a
        # history, escaping half a UTF-16 pair): U+FFFD, as in replies (unicode_text).
        return utf8_text(text).encode()


def _orjson_exact(body: object, fixed: tuple[object, ...]) -> bool:
    """Whether orjson encodes ``body`` byte for byte as the standard library does."""
    skip = set()
    for part in fixed:
        if part is not None:
            if not _fixed_exact(part):
                return False
            skip.add(id(part))
    return _exact(body, skip)


_FIXED_EXACT: dict[int, tuple[object, bool]] = {}
"""``_exact`` of a fixed part by ``id``, with the part itself (kept alive: its id stays its)."""


def _fixed_exact(part: object) -> bool:
    known = _FIXED_EXACT.get(id(part))
    if known is not None and known[0] is part:
        return known[1]
    if len(_FIXED_EXACT) >= 1024:  # a run has a few judges; a long-lived process, more
        _FIXED_EXACT.clear()
    exact = _exact(part, set())
    _FIXED_EXACT[id(part)] = (part, exact)
    return exact


def _exact(value: object, skip: set[int]) -> bool:
    """The check itself, without recursion (a body is small, but Python calls are not)."""
    stack: list[Any] = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is dict:
            if skip and id(item) in skip:
                continue
            for key in item:  # a loop, not any(genexpr): this runs for every message
                if type(key) is not str:
                    return False
            extend(item.values())
        elif kind is list or kind is tuple:
            if not skip or id(item) not in skip:
                extend(item)
        elif kind is float:
            if not (item == 0.0 or 1e-4 <= abs(item) < 1e16):
                return False
        else:
            return False
    return True


# One encoder for every body (json.dumps with options builds a new one per call).  A
# body is a tree this module builds, never circular: the check would cost per call.
_BODY_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, default=dict, check_circular=False
)


def requested_model(response: httpx.Response) -> str:
    """The model the request asked for, when the reply does not name one."""
    try:
        model = json.loads(response.request.content).get("model")
    except (RuntimeError, ValueError, AttributeError):
        return ""
    return model if isinstance(model, str) else ""


def read_json(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object; MalformedReply when it is not one."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:  # NaN, a >64-bit integer, not JSON: json decides, says why
        body = _standard_json(response.content)
    if not isinstance(body, dict):
        raise MalformedReply("body is not a JSON object")
    return body


def _standard_json(content: bytes) -> Any:
    """``content`` decoded by the standard library; MalformedReply naming why it is not JSON."""
    try:
        return utf8_values(json.loads(content))
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise MalformedReply(f"body is not JSON ({reason})") from None


def reports_usage(usage: Any, *counts: str) -> bool:
    """Whether a body's ``usage`` object holds any of the token ``counts`` (a null, absent or
    empty usage means the tokens are unknown: never read as zero)."""
    return isinstance(usage, dict) and any(usage.get(name) is not None for name in counts)


def token_count(usage: Any, *path: str) -> int:
    """The token count at ``path`` in a usage object: 0 when absent or null."""
    value = usage
    for key in path:
        if type(value) is not dict and not isinstance(value, dict):
            return 0
        value = value.get(key)
    if type(value) is int and value >= 0:  # the usual count, without the checks below
        return value
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedReply(f"usage.{'.'.join(path)} is not a token count")
    return value


OUTPUT_MODES: tuple[OutputMode, ...] = ("json_schema", "json_object", "prompt")
"""From most to least constrained; a fallback only ever moves right."""


def fallback_call(
    call: ModelCall,
    error_text: str,
    *,
    modes: tuple[OutputMode, ...],
    structured_markers: tuple[str, ...],
    token_switch: bool = False,
) -> ModelCall | None:
    """``call`` with the one parameter a 400 body names changed, or None (a genuine bad
    request).  Each step only ever removes or weakens something, so the ladder ends."""
    error = provider_error(error_text)
    said = f"{error.param or ''} {error.message}".lower()
    if token_switch and call.token_param == "max_tokens" and "max_completion_tokens" in said:
        return replace(call, token_param="max_completion_tokens")
    if call.temperature is not None and "temperature" in said:
        return replace(call, temperature=None)
    if any(marker in said for marker in structured_markers):
        rank = OUTPUT_MODES.index(call.output_mode)
        lower = [mode for mode in modes if OUTPUT_MODES.index(mode) > rank]
        if lower:
            return replace(call, output_mode=lower[0])
    return None


def cache_inclusive_usage(uncached: int, read: int, written: int, output: int) -> Usage:
    """Usage of a protocol that reports cache reads and writes beside the uncached input
    (Anthropic Messages, Bedrock Converse): billed input is the three together."""
    return Usage(
        input_tokens=uncached + read + written,
        output_tokens=output,
        cached_input_tokens=read,
        cache_write_tokens=written,
    )

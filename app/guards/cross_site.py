"""Refuse requests a browser sends on behalf of another site: the admin API's guard against CSRF and DNS rebinding.

Such requests show in headers a page cannot forge (``Host``, ``Origin``, ``Sec-Fetch-Site``); clients that
are not browsers send none of these, or a loopback ``Host``.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from perceptron_mock.asgi import Scope, header
from perceptron_mock.protocol.errors import APIError, clip


def is_loopback_name(host: str) -> bool:
    """Whether ``host`` (no port) names this machine: ``localhost`` or a ``*.localhost`` name (RFC 6761;
    browsers answer them with loopback themselves, never from DNS), 127.0.0.0/8 or ::1 (bracketed or
    not), any case, with or without a trailing dot."""
    name = host.strip("[]").lower().removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def split_host(value: str) -> str | None:
    """The host of a ``Host`` header (``name``, ``name:port``, ``[v6]``, ``[v6]:port``); None when it is
    not one."""
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket:
            return None
    else:
        host, _, port = value.partition(":")
        rest = f":{port}" if ":" in value else ""
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return None
    return host or None


def is_loopback_host(value: str) -> bool:
    """Whether a ``Host`` header value names this machine, with or without a port."""
    host = split_host(value)
    return host is not None and is_loopback_name(host)


def is_loopback_origin(origin: str) -> bool:
    """Whether an ``Origin`` is ``http(s)://`` a loopback host; ``null`` (a sandboxed or file page) is not."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and not parts.path and is_loopback_host(parts.netloc)


def _refusal(what: str) -> APIError:
    return APIError(
        403,
        f"The admin API refuses cross-site requests: {what}. Call it from a test, curl or a script at "
        "http://127.0.0.1:<port> or http://localhost:<port> (see docs/admin-api.md).",
        code="cross_site_request",
    )


def refuse_cross_site(scope: Scope, *, loopback_host: bool) -> None:
    """Raise a 403 ``cross_site_request`` for a request a browser sends for another site.

    Always: ``Sec-Fetch-Site`` ``cross-site`` or ``same-site``, and an ``Origin`` that is neither a
    loopback origin nor the request's own ``Host``. With ``loopback_host`` (the admin API open without
    a key): also a ``Host`` that is not a loopback name or address (DNS rebinding). A header that is
    absent is not a refusal: only browsers send them, and a browser always sends ``Host``."""
    host = header(scope, b"host")
    host_text = host.decode("latin-1") if host is not None else None
    if loopback_host and host_text is not None and not is_loopback_host(host_text):
        raise _refusal(f"the Host header {clip(host_text)!r} is not a loopback name or address (as a DNS-rebinding page sends)")
    origin = header(scope, b"origin")
    if origin is not None:
        origin_text = origin.decode("latin-1")
        same_origin = host_text is not None and _netloc(origin_text) == host_text.lower()
        if not (is_loopback_origin(origin_text) or same_origin):
            raise _refusal(f"the Origin {clip(origin_text)!r} is another site")
    fetch_site = header(scope, b"sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() in (b"cross-site", b"same-site"):
        raise _refusal(f"Sec-Fetch-Site is {clip(fetch_site.decode('latin-1'))!r}")


def _netloc(origin: str) -> str | None:
    try:
        return urlsplit(origin).netloc.lower()
    except ValueError:
        return None

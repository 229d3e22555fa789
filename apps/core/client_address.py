"""The address a request came from, for throttling and logs: never one a client can choose.

`REMOTE_ADDR` is the peer of the TCP connection. The web server is run with uvicorn's proxy
headers off (docqa/processes.py), so nothing rewrites it from `X-Forwarded-For` before Django.
Only when the deployment says a proxy is in front (`DJANGO_BEHIND_PROXY=1`) is that header read,
and then only the entries that trusted proxies wrote: the chain is read from the right (the
peer, then what each proxy appended), skipping hops that are trusted proxies; the first entry
that is not one is the client. Entries to its left were written by the client and are ignored.

Which hops are trusted:
- `DJANGO_TRUSTED_PROXIES` (addresses or networks): the peer and each entry inside them. A peer
  outside them did not come through the proxy, and its own address is used.
- otherwise `DJANGO_PROXY_HOPS` (default 1): that many proxies, the peer being the first.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings

UNKNOWN = "unknown"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:51234"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def client_address(request: Any) -> str:
    """The client's address as the outermost trusted hop saw it, or "unknown"."""
    meta = getattr(request, "META", None) or {}
    peer = _address(str(meta.get("REMOTE_ADDR", "")))
    if peer is None:
        return UNKNOWN
    if not settings.BEHIND_PROXY:
        return str(peer)
    forwarded = [p for p in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",") if p.strip()]
    chain = [peer, *(_address(part) for part in reversed(forwarded))]
    networks: list[Network] = settings.TRUSTED_PROXIES
    if networks:
        hops = settings.PROXY_HOPS or len(chain)
        trusted = lambda a: a is not None and any(a in n for n in networks)  # noqa: E731
    else:
        hops = settings.PROXY_HOPS or 1
        trusted = lambda a: a is not None  # noqa: E731
    client = peer
    for index, hop in enumerate(chain):
        if index >= hops or not trusted(hop):
            break
        if index + 1 >= len(chain):
            break  # every hop was a trusted proxy: the last one is as far as is known
        following = chain[index + 1]
        if following is None:
            break  # a trusted proxy wrote something that is no address: stop at that proxy
        client = following
    return str(client)

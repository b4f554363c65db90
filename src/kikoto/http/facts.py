"""What IAM Conditions may test about a request, set for the request's task before any face
authorises it: the client's address (aws:SourceIp) and whether it came over TLS
(aws:SecureTransport). Behind a balancer listed in `trusted_proxies` the address is the last one
of X-Forwarded-For the trusted balancers did not add; otherwise the socket's peer, whatever a
client writes in its headers."""

from __future__ import annotations

import functools
import ipaddress

from aiohttp import web

from ..services.access import REQUEST, RequestFacts

Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
TRUSTED = web.AppKey("trusted_proxies", tuple)
PUBLIC_HTTPS = web.AppKey("public_https", bool)  # clients reach us over https (TLS may end at a balancer)


def networks(text: str) -> Networks:
    return tuple(ipaddress.ip_network(n.strip(), strict=False) for n in text.split(",") if n.strip())


def _trusted(address: str, trusted: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(request: web.Request, trusted: Networks) -> str | None:
    peer = request.remote
    if not peer or not trusted or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops[-32:]):  # the nearest first; a client's own list is bounded
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def note_facts(request: web.Request) -> None:
    """Set this request's facts for its task (the auth middleware does, first: one middleware
    less on every request; measured 3% of a manifest GET's rate as a layer of its own), as a
    function: most decisions are cached and never need them."""
    REQUEST.set(functools.partial(_facts, request))  # worked out only if a Condition asks


def _facts(request: web.Request) -> RequestFacts:
    trusted = request.app[TRUSTED]
    from_balancer = bool(trusted) and request.remote is not None and _trusted(request.remote, trusted)
    secure = request.secure or (from_balancer and request.app[PUBLIC_HTTPS])  # TLS ended at a trusted balancer
    return RequestFacts(source_ip=client_address(request, trusted), secure=secure)

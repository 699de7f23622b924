"""Where a webhook may point: the rules that keep a customer's URL from reaching our own network.

A URL is checked when the endpoint is saved, and its host is resolved and checked again at every
delivery by the resolver the worker's HTTP client uses (SafeResolver): the client connects to
the very address that was checked, so a DNS answer that changes between the two (rebinding)
cannot slip a private address in. Refused: loopback, private, shared (CGNAT), link-local (cloud
metadata at 169.254.169.254 and fd00:ec2::254 among them), multicast, reserved and unspecified
addresses, IPv4 and IPv6, and IPv6 forms that carry an IPv4 address (mapped, NAT64, 6to4, Teredo).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from voxlancer.config import Settings
from voxlancer.errors import BadRequest

MAX_URL = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# IPv6 prefixes that embed an IPv4 address, which is what a packet would reach.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


class UrlNotAllowed(BadRequest):
    """A webhook URL that may not be used; the message says why."""

    code = "url_not_allowed"


def address_allowed(address: IPAddress) -> bool:
    """True for a public unicast address a webhook may reach."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = (address.ipv4_mapped or address.sixtofour
                    or (address.teredo[1] if address.teredo else None))
        if embedded is None and any(address in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_allowed(embedded)
    return (address.is_global and not address.is_multicast and not address.is_reserved
            and not address.is_loopback and not address.is_link_local
            and not address.is_unspecified and not address.is_private)


def check_url(settings: Settings, url: str) -> tuple[str, str, int]:
    """The URL's (scheme, host, port) if its form is allowed; UrlNotAllowed says why not."""
    if len(url) > MAX_URL:
        raise UrlNotAllowed(f"url: must be at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlNotAllowed(f"url: not a valid URL ({exc})") from None
    schemes = ("https",) if settings.production else ("https", "http")
    if parts.scheme not in schemes:
        raise UrlNotAllowed("url: must start with https://" +
                            ("" if settings.production else " (or http:// in development)"))
    if not parts.hostname:
        raise UrlNotAllowed("url: has no host")
    if parts.username is not None or parts.password is not None:
        raise UrlNotAllowed("url: must not carry a user name or password")
    if parts.fragment:
        raise UrlNotAllowed("url: must not have a #fragment")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def check_destination(settings: Settings, url: str) -> None:
    """check_url, then resolve the host: every address it resolves to must be allowed."""
    _, host, port = check_url(settings, url)
    if settings.webhook_allow_private:
        return
    literal = _literal(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise UrlNotAllowed(f"url: the host {host} does not resolve") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    refused = [a for a in addresses if not address_allowed(a)]
    if refused:
        raise UrlNotAllowed(f"url: {host} resolves to {refused[0]}, a private, loopback, "
                            "link-local or reserved address; webhooks go to public addresses "
                            "only")


class SafeResolver(AbstractResolver):
    """aiohttp's resolver, refusing every answer that is not a public address.

    aiohttp connects to the addresses a resolver returns (and sends the URL's host name as Host
    and in TLS SNI), so the address checked is the address connected to. IP literals never reach
    a resolver: the worker checks those itself (check_literal).
    """

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if not address_allowed(ipaddress.ip_address(result["host"].split("%")[0])):
                raise OSError(errno.EHOSTUNREACH, f"{host} resolves to {result['host']}, "
                              "which webhooks may not reach")
        return results

    async def close(self) -> None:
        await self._inner.close()


def check_literal(host: str) -> None:
    """Raise OSError if `host` is an IP address webhooks may not reach (host names: resolver)."""
    literal = _literal(host.strip("[]"))
    if literal is not None and not address_allowed(literal):
        raise OSError(errno.EHOSTUNREACH, f"{literal} is an address webhooks may not reach")

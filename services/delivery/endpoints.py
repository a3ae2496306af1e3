"""Where a webhook may be sent (#44, SSRF): the address rules, and a resolver that applies them
to the address actually connected to (a name that resolves to a private address is refused
however it is spelled, and a rebinding resolver gains nothing). Pure apart from the resolver.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver


class AddressRefused(OSError):
    """The endpoint's address is not one an agency's webhook may have."""


def refusal(address: str, *, allow_private: bool) -> str | None:
    """Why ``address`` may not be connected to, or None. Never: unspecified, multicast,
    reserved, link-local (cloud metadata lives there); without ``allow_private``, also
    loopback and private networks."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    never = ip.is_unspecified or ip.is_multicast or ip.is_link_local
    if never or (ip.is_reserved and not ip.is_loopback):  # ::1 sits in a reserved block
        return f"{ip} is not a routable unicast address"
    if (ip.is_loopback or ip.is_private) and not allow_private:
        return f"{ip} is a loopback or private address (allow_private_addresses is off)"
    return None


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass
class GuardedResolver(AbstractResolver):
    """The system's resolver, refusing any answer the rules forbid."""

    allow_private: bool
    inner: AbstractResolver | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        inner = self.inner = self.inner or DefaultResolver()
        results = await inner.resolve(host, port, family)
        for result in results:
            why = refusal(result["host"], allow_private=self.allow_private)
            if why:
                raise AddressRefused(f"{host} resolves to {why}")
        return results

    async def close(self) -> None:
        if self.inner is not None:
            await self.inner.close()

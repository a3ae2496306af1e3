"""Where a webhook may go (SSRF): the address rules and the resolver that applies them."""

from __future__ import annotations

import socket

import pytest

from services.delivery.endpoints import AddressRefused, GuardedResolver, is_ip_literal, refusal

NEVER = [
    "0.0.0.0",
    "::",
    "169.254.169.254",  # cloud metadata
    "fe80::1",
    "224.0.0.1",
    "240.0.0.1",
    "::ffff:169.254.169.254",
]
PRIVATE = [
    "127.0.0.1",
    "::1",
    "10.1.2.3",
    "172.16.0.9",
    "192.168.1.1",
    "fd00::5",
    "::ffff:10.0.0.1",
]
PUBLIC = ["8.8.8.8", "2001:4860:4860::8888", "152.216.7.110"]


@pytest.mark.parametrize("address", NEVER)
def test_never_reachable_even_when_private_is_allowed(address: str) -> None:
    assert refusal(address, allow_private=True)
    assert refusal(address, allow_private=False)


@pytest.mark.parametrize("address", PRIVATE)
def test_private_and_loopback_only_when_allowed(address: str) -> None:
    assert refusal(address, allow_private=True) is None
    assert "private" in (refusal(address, allow_private=False) or "")


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(address, allow_private=False) is None


def test_ip_literals_are_told_from_names() -> None:
    assert is_ip_literal("10.0.0.1") and is_ip_literal("[::1]") and is_ip_literal("::1")
    assert not is_ip_literal("hooks.example.gov") and not is_ip_literal("localhost")


class Fixed:
    """A resolver answering what a (rebinding) DNS server would."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        return [
            {"hostname": host, "host": a, "port": port, "family": family, "proto": 0, "flags": 0}
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    guard = GuardedResolver(False, Fixed("93.184.216.34", "10.0.0.7"))  # type: ignore[arg-type]
    with pytest.raises(AddressRefused, match=r"10\.0\.0\.7"):
        await guard.resolve("hooks.example.gov", 443)


async def test_a_name_resolving_to_public_addresses_passes() -> None:
    guard = GuardedResolver(False, Fixed("93.184.216.34"))  # type: ignore[arg-type]
    [result] = await guard.resolve("hooks.example.gov", 443)
    assert result["host"] == "93.184.216.34"


async def test_localhost_resolves_and_is_refused_by_the_real_resolver() -> None:
    with pytest.raises(AddressRefused, match="loopback"):
        await GuardedResolver(False).resolve("localhost", 443)
    assert await GuardedResolver(True).resolve("localhost", 443)

"""Which hosts image links may point at: public addresses only, unless the API itself is on a
private one (the emulator on loopback, a gateway on the LAN) or the manifest allows it.

A link is checked before connecting (its name resolved; a literal address read), every redirect
hop again, and the connector's resolver drops non-public addresses for image hosts, so a name
that resolves differently the second time (DNS rebinding) cannot reach a private address."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from batchgen.errors import DownloadError


def is_public(address: str) -> bool:
    """A globally routable address: not private, loopback, link-local, reserved or multicast."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_global and not ip.is_multicast


class HostGuard(AbstractResolver):
    """The session's resolver: resolves as usual, and keeps image hosts off private addresses."""

    def __init__(self, *, api_url: str, allow_private: bool = False) -> None:
        self._resolver = DefaultResolver()
        self._api_host = URL(api_url).host or ""
        self._open = (
            allow_private or _literal_private(self._api_host) or self._api_host in ("localhost",)
        )

    def __repr__(self) -> str:
        return f"HostGuard(api_host={self._api_host!r}, private_allowed={self._open})"

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        if host == self._api_host:
            self._open = self._open or not all(is_public(r["host"]) for r in found)
            return found
        if self._open:
            return found
        kept = [result for result in found if is_public(result["host"])]
        if not kept:
            raise OSError(f"{host} has only private addresses")
        return kept

    async def check(self, url: URL) -> None:
        """Refuse (for good: fetching again cannot help) a link to a private address."""
        host = url.host or ""
        if self._open or host == self._api_host:
            return
        if _is_literal(host):
            addresses = [host]
        else:
            try:
                addresses = [r["host"] for r in await self._resolver.resolve(host, url.port or 0)]
            except OSError:
                return  # the connection fails on its own, with a retryable message
        if not any(is_public(address) for address in addresses):
            raise DownloadError(
                f"refusing to fetch an image from {host}: a private, loopback or link-local "
                "address (set provider.allow_private_image_hosts: true to allow it)",
                retryable=False,
            )

    async def close(self) -> None:
        await self._resolver.close()


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _literal_private(host: str) -> bool:
    return _is_literal(host) and not is_public(host.strip("[]"))


def resolver_kwargs(guard: HostGuard | None) -> dict[str, Any]:
    return {} if guard is None else {"resolver": guard}

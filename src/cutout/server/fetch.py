"""Fetch ``image_url`` / ``bg_image_url`` without becoming an SSRF proxy.

Off unless ``CUTOUT_ALLOW_URLS`` is set *and* hosts are allowed. For each URL (and each
redirect, at most 3):

1. the scheme is http or https and the host is on the allow-list (``example.com``
   exactly, or ``*.example.com`` for its subdomains);
2. the host is resolved once; every address must be public (no private, loopback,
   link-local, multicast, reserved or unspecified address, IPv4-mapped ones included);
3. the connection goes to that resolved address (the Host header and TLS SNI carry the
   name, so certificates are still checked against it), so a second DNS answer cannot
   point the request elsewhere;
4. the body is streamed with a byte cap, and the whole fetch has a time limit.

Refusals are ``invalid_image_url`` / ``invalid_bg_image_url``; network failures are
``failed_image_download`` / ``failed_bg_download`` (400, like remove.bg).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from cutout.errors import FileTooLargeError, InputError, InvalidOptionError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "IPAddress",
    "ResolvedTarget",
    "UrlPolicy",
    "fetch_url",
    "host_allowed",
    "is_public_address",
    "resolve_target",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public_address(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def host_allowed(host: str, allow_hosts: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in allow_hosts:
        pattern = pattern.lower().strip().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


@dataclass(frozen=True)
class UrlPolicy:
    enabled: bool = False
    allow_hosts: tuple[str, ...] = ()
    max_bytes: int = 25 * 1024 * 1024
    timeout_s: float = 10.0
    max_redirects: int = 3
    # the checks below are parameters so that tests can aim them at a loopback server
    address_allowed: Callable[[IPAddress], bool] = is_public_address
    resolver: Resolver = field(default=system_resolver)


@dataclass(frozen=True)
class ResolvedTarget:
    url: str  # the URL to request: the resolved address in place of the host name
    host: str  # the name, for the Host header and TLS SNI
    address: IPAddress


def resolve_target(url: str, policy: UrlPolicy, *, param: str = "image_url") -> ResolvedTarget:
    """Check ``url`` against the policy and pin it to one resolved, allowed address."""
    code = f"invalid_{param}"
    if not policy.enabled or not policy.allow_hosts:
        raise InvalidOptionError(f"{param} is disabled on this server; upload the file", code=code)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidOptionError(f"{param} is not a valid URL: {exc}", code=code) from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidOptionError(f"{param} must be an http or https URL", code=code)
    host = parts.hostname
    if not host:
        raise InvalidOptionError(f"{param} has no host", code=code)
    if parts.username or parts.password:
        raise InvalidOptionError(f"{param} must not carry credentials", code=code)
    if not host_allowed(host, policy.allow_hosts):
        raise InvalidOptionError(f"{param}: host {host!r} is not on the allow-list", code=code)
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        answers = [str(literal)]
    else:
        try:
            answers = policy.resolver(host, port)
        except OSError as exc:
            raise InputError(
                f"{param}: cannot resolve {host!r}", code=f"failed_{_noun(param)}_download"
            ) from exc
    addresses = [ipaddress.ip_address(answer.split("%", 1)[0]) for answer in answers]
    if not addresses:
        raise InputError(
            f"{param}: {host!r} has no address", code=f"failed_{_noun(param)}_download"
        )
    refused = [str(address) for address in addresses if not policy.address_allowed(address)]
    if refused:
        raise InvalidOptionError(
            f"{param}: {host!r} resolves to a non-public address ({', '.join(refused)})",
            code=code,
        )
    address = addresses[0]
    netloc = f"[{address}]" if address.version == 6 else str(address)
    pinned = parts._replace(netloc=f"{netloc}:{port}").geturl()
    return ResolvedTarget(url=pinned, host=host, address=address)


def _noun(param: str) -> str:
    return "bg" if param.startswith("bg") else "image"


async def fetch_url(url: str, policy: UrlPolicy, *, param: str = "image_url") -> bytes:
    """The body of ``url`` under ``policy`` (see the module docstring)."""
    failed = f"failed_{_noun(param)}_download"
    try:
        async with asyncio.timeout(policy.timeout_s):
            return await _fetch(url, policy, param, failed)
    except TimeoutError:
        raise InputError(
            f"{param}: download took longer than {policy.timeout_s:g} s", code=failed
        ) from None


async def _fetch(url: str, policy: UrlPolicy, param: str, failed: str) -> bytes:
    import httpx  # only servers that enable URLs pay for the import at start-up

    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, timeout=policy.timeout_s
    ) as client:
        for _ in range(policy.max_redirects + 1):
            target = await asyncio.to_thread(resolve_target, url, policy, param=param)
            request = client.build_request(
                "GET",
                target.url,
                headers={"Host": _host_header(url), "Accept": "image/*"},
                extensions={"sni_hostname": target.host},
            )
            try:
                response = await client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise InputError(f"{param}: download failed: {exc}", code=failed) from exc
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    url = urljoin(url, location)
                    continue
                if response.status_code != 200:
                    raise InputError(
                        f"{param}: the server answered {response.status_code}", code=failed
                    )
                return await _read_capped(response, policy.max_bytes, param)
            except httpx.HTTPError as exc:
                raise InputError(f"{param}: download failed: {exc}", code=failed) from exc
            finally:
                await response.aclose()
    raise InputError(f"{param}: more than {policy.max_redirects} redirects", code=failed)


def _host_header(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


async def _read_capped(response: httpx.Response, max_bytes: int, param: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FileTooLargeError(f"{param}: {declared} bytes; the limit is {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FileTooLargeError(f"{param}: more than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)

"""NTLM authentication to an HTTP proxy, for the tunnel (CONNECT) to the hub.

httpx speaks Basic to proxies but not NTLM, whose three messages must travel on one
connection. So the tunnel is built here: a network backend for httpcore connects to
the proxy, sends CONNECT with NTLM's negotiate message, answers the proxy's challenge
on the same connection (pyspnego computes the messages), and hands the open tunnel to
httpx, which then speaks TLS to the hub through it exactly as over a direct connection.
"""

from __future__ import annotations

import base64
import ssl
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from nps_sensor.uplink.proxy import ProxySettings

MAX_HEADER = 64 * 1024


class NtlmProxyError(httpcore.ProxyError):
    """The proxy refused the tunnel; the message says why."""


class NtlmTunnelBackend(httpcore.NetworkBackend):
    def __init__(self, proxy: ProxySettings) -> None:
        self.proxy = proxy
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        import spnego  # only when an NTLM proxy is configured

        stream = self.inner.connect_tcp(self.proxy.address, self.proxy.port, timeout, local_address, socket_options)
        try:
            context = spnego.client(
                self.proxy.user, self.proxy.password, hostname=self.proxy.address, service="HTTP", protocol="ntlm"
            )
            token = context.step()
            target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            for _ in range(2):
                assert token is not None
                status, headers = _connect(stream, target, "NTLM " + base64.b64encode(token).decode(), timeout)
                if status == 200:
                    return stream
                challenge = next(
                    (v[5:].strip() for k, v in headers if k == "proxy-authenticate" and v[:5].upper() == "NTLM "),
                    "",
                )
                if status != 407 or not challenge or context.complete:
                    break
                token = context.step(base64.b64decode(challenge))
            raise NtlmProxyError(f"{status} from the proxy: NTLM authentication refused")
        except BaseException:
            stream.close()
            raise

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _connect(
    stream: httpcore.NetworkStream, target: str, authorization: str, timeout: float | None
) -> tuple[int, list[tuple[str, str]]]:
    request = (
        f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: {authorization}\r\n"
        "Proxy-Connection: keep-alive\r\nConnection: keep-alive\r\n\r\n"
    )
    stream.write(request.encode("latin-1"), timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = stream.read(4096, timeout)
        if not chunk:
            raise NtlmProxyError("the proxy closed the connection during NTLM authentication")
        data += chunk
        if len(data) > MAX_HEADER:
            raise NtlmProxyError("the proxy's answer to CONNECT is too long")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise httpcore.RemoteProtocolError(f"not an HTTP proxy answer: {lines[0][:60]!r}")
    headers = [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    status = int(parts[1])
    if status != 200:  # the body of a refusal: read it, so the next CONNECT starts clean
        length = next((int(v) for k, v in headers if k == "content-length" and v.isdigit()), 0)
        while len(rest) < length:
            chunk = stream.read(length - len(rest), timeout)
            if not chunk:
                break
            rest += chunk
    return status, headers


def transport(proxy: ProxySettings, verify: ssl.SSLContext) -> httpx.HTTPTransport:
    """An httpx transport whose connections are NTLM-authenticated tunnels through the proxy."""
    t = httpx.HTTPTransport(verify=verify)
    # httpx builds its httpcore pool without a way to pass a network backend: replace it.
    t._pool = httpcore.ConnectionPool(ssl_context=verify, network_backend=NtlmTunnelBackend(proxy), retries=0)
    return t

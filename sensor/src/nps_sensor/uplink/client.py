"""HTTPS to the hub (httpx), through the proxy when there is one, with the hub's
certificate verified against the pinned certificate or the system's authorities.

Every failure becomes a SensorError whose message says what to check; `Retry`
marks the ones worth trying again later (hub down, network, proxy trouble).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx

from nps_sensor.errors import SensorError
from nps_sensor.uplink.proxy import ProxySettings

TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class Retry(SensorError):
    """The hub could not be reached or answered with a passing failure: try again later
    (after `retry_after` seconds when the hub said so)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Gone(SensorError):
    """The hub no longer knows this sensor's credential (deregistered or deleted)."""


class Refused(SensorError):
    """The hub refused what was sent for what it is (4xx): sending it again changes nothing."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def check_url(hub: str) -> str:
    parts = urlsplit(hub)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SensorError(f"hub URL {hub!r}: expected https://HOST[:PORT]")
    if parts.scheme == "http":
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = parts.hostname == "localhost"
        if not loopback:
            raise SensorError(f"hub URL {hub}: the sensor talks to the hub over HTTPS only (use https://)")
    return hub.rstrip("/")


def tls_context(ca_pem: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if ca_pem:
        ctx = ssl.create_default_context(cadata=ca_pem)
        # A pinned certificate is trusted as it is, even one a private authority signed
        # (whose root the appliance does not have); the host name is still checked.
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return ctx


def inspecting_context() -> ssl.SSLContext:
    """Accepts any certificate: only to read the hub's before anything is sent, and compare
    it with a pinned fingerprint (`register.pinned`)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class HubClient:
    def __init__(
        self,
        hub: str,
        token: str = "",
        ca_pem: str = "",
        proxy: ProxySettings | None = None,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.hub = check_url(hub)
        self.proxy = proxy
        headers = {"User-Agent": "nps-sensor-uplink"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            verify: ssl.SSLContext | bool = context or tls_context(ca_pem)
        except (ssl.SSLError, ValueError) as e:
            raise SensorError(f"the pinned hub certificate is not a readable PEM certificate: {e}") from None
        if proxy is not None and proxy.auth == "ntlm":
            from nps_sensor.uplink.ntlm import transport

            assert isinstance(verify, ssl.SSLContext)
            self.http = httpx.Client(
                base_url=self.hub, headers=headers, transport=transport(proxy, verify), timeout=TIMEOUT, trust_env=False
            )
        else:
            self.http = httpx.Client(
                base_url=self.hub,
                headers=headers,
                verify=verify,
                proxy=proxy.url() if proxy else None,
                timeout=TIMEOUT,
                trust_env=False,  # the appliance's proxy file decides, not stray environment variables
            )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def certificate(self) -> bytes:
        """The certificate (DER) the hub showed on this client's connection."""
        r = self._send("GET", "/api/v1/health")
        stream = r.extensions.get("network_stream")
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        der = ssl_object.getpeercert(True) if ssl_object is not None else None  # DER; positional for both socket kinds
        if not der:
            raise SensorError(f"the hub at {self.hub} showed no certificate (is it https://?)")
        return bytes(der)

    def post(self, path: str, **kw: Any) -> dict[str, Any]:
        r = self._send("POST", path, **kw)
        try:
            body = r.json()
        except ValueError:
            body = {}
        detail = body.get("detail") if isinstance(body, dict) else None
        if r.status_code in (401, 410):
            raise Gone(f"the hub refused this sensor: {detail or r.reason_phrase}")
        if r.status_code >= 500 or r.status_code in (408, 429):
            raise Retry(
                f"the hub answered {r.status_code} {r.reason_phrase}" + (f": {detail}" if detail else ""),
                _seconds(r.headers.get("retry-after")),
            )
        if r.status_code >= 400:
            raise Refused(f"the hub refused: {detail or r.reason_phrase} ({r.status_code})", r.status_code)
        if not isinstance(body, dict):
            raise Retry(f"the hub at {self.hub} answered something else than JSON")
        return body

    def download(self, path: str, into: str, limit: int) -> str:
        """GET `path` into the file `into`, at most `limit` bytes; its SHA-256 (hex).
        A failure leaves no file."""
        digest = hashlib.sha256()
        size = 0
        try:
            with self.http.stream("GET", path) as r, open(into, "wb") as out:
                if r.status_code in (401, 410):
                    raise Gone(f"the hub refused this sensor ({r.status_code})")
                if r.status_code != 200:
                    raise SensorError(f"the hub answered {r.status_code} for {path}")
                for chunk in r.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        raise SensorError(f"{path} is larger than {limit} bytes: refused")
                    digest.update(chunk)
                    out.write(chunk)
        except httpx.HTTPError as e:
            with contextlib.suppress(OSError):
                os.unlink(into)
            raise Retry(f"downloading {path} from the hub failed: {e}") from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(into)
            raise
        return digest.hexdigest()

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """The request; every way it can fail becomes one line saying what to check."""
        via = f" through the proxy {self.proxy.where}" if self.proxy else ""
        try:
            r = self.http.request(method, path, **kw)
        except httpx.ProxyError as e:
            where = self.proxy.where if self.proxy else ""
            if any(code in str(e) for code in ("407", "401")):  # tinyproxy says 401 to CONNECT
                raise Retry(
                    f"the proxy {where} refused the credentials ({e}): check NPS_PROXY_USER and NPS_PROXY_PASSWORD"
                ) from None
            raise Retry(f"the proxy {where} refused the way to {self.hub}: {e}") from None
        except httpx.ConnectError as e:
            text = str(e)
            if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
                hint = (
                    " (an SSL-inspecting proxy? the sensor needs the hub's own certificate: exempt the hub from "
                    "inspection)"
                    if self.proxy
                    else " (pin the hub's certificate at registration: --ca FILE or --fingerprint SHA256)"
                )
                raise Retry(f"the hub's certificate at {self.hub} did not verify{via}: {_reason(text)}{hint}") from None
            raise Retry(f"cannot reach the hub at {self.hub}{via}: {_reason(text)}") from None
        except httpx.RemoteProtocolError as e:
            if self.proxy:
                raise Retry(
                    f"the proxy {self.proxy.where} did not answer as an HTTP proxy ({e}); a SOCKS proxy? "
                    "the sensor needs an HTTP proxy with CONNECT"
                ) from None
            raise Retry(f"the hub at {self.hub} broke the connection: {e}") from None
        except httpx.HTTPError as e:
            raise Retry(f"no answer from the hub at {self.hub}{via}: {e}") from None
        if r.status_code == 407:
            raise Retry(
                f"the proxy {self.proxy.where if self.proxy else ''} refused the credentials (407): "
                "check NPS_PROXY_USER and NPS_PROXY_PASSWORD"
            )
        return r


def _seconds(text: str | None) -> float | None:
    """Retry-After in seconds (the hub sends seconds), bounded to an hour."""
    try:
        return min(3600.0, max(0.0, float(text))) if text else None
    except ValueError:
        return None


def _reason(text: str) -> str:
    return text.split("] ", 1)[-1].strip() or text

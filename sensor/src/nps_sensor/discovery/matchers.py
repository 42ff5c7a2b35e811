"""The fingerprint databases' matchers: what a TCP signature, an option 55 list, a vendor
class, an SSH banner, an SMB string, a web server or a MAC block says, each database
loaded on first use."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from nps_sensor.discovery.fingerprints import Databases, brands, fingerbank, oui, p0f, rules, satori
from nps_sensor.discovery.fingerprints.claims import OS, Claim, Device, family

PRL_DEVICE_WEIGHT = 0.25  # a DHCP client is shared by every product built on it: its kind is a hint


class Matchers:
    """The databases' matchers, each loading its database on first use."""

    def __init__(self, db: Databases) -> None:
        self.db = db

    def p0f(self, signature: str, synack: bool) -> Claim | None:
        m = self.db.get("p0f", p0f.load, p0f.EMPTY).match(signature, synack)
        if m is None or m.label.cls == "!" or m.label.name in ("p0f", "NMap", "BaiduSpider"):
            return None
        fam = family(m.label.name) or m.label.name
        name, version = fam, m.label.flavor or None
        if fam == "Windows" and not m.label.generic and version:
            name, version = f"Windows {version}", None  # "7 or 8", "XP": a product, not a kernel
        weight = 0.2 if m.fuzzy else (0.3 if m.label.generic else 0.45)
        device = None
        if m.label.name == "Nintendo":
            device = Device("game console", "Nintendo")
        elif m.label.name == "Blackberry":
            device = Device("phone", "BlackBerry")
        fuzzy = " (fuzzy)" if m.fuzzy else ""
        return Claim(weight, OS(fam, name, version), device, f"p0f {m.label}{fuzzy}")

    def dhcp_prl(self, prl: str) -> list[Claim]:
        """Option 55 names the DHCP client, so the OS; the products built on that client
        are many, so the device type is a hint and the vendor is left out."""
        out: list[Claim] = []
        for c in self._prl(prl):
            out.append(Claim(c.weight, c.os, None, c.match))
            if c.device and c.device.type:
                out.append(Claim(min(c.weight, PRL_DEVICE_WEIGHT), None, Device(c.device.type), c.match))
        return [c for c in out if c.os or c.device]

    def _prl(self, prl: str) -> list[Claim]:
        fb = self._fingerbank().by_prl.get(prl) or []
        found = (
            satori.best([(claim, 5) for claim in fb], 0.9, "FingerBank"),
            satori.best(self._satori_dhcp().match("dhcpoption55", prl)),
        )
        return [c for c in found if c]

    def dhcp_vendor(self, vendor: str) -> list[Claim]:
        fb = self._fingerbank().by_vendor.get(vendor) or []
        found = (
            rules.dhcp_vendor_class(vendor),
            satori.best([(claim, 3) for claim in fb], 0.8, "FingerBank"),
            satori.best(self._satori_dhcp().match("dhcpvendorcode", vendor), 0.8),
        )
        return [c for c in found if c]

    def _fingerbank(self) -> fingerbank.Database:
        """FingerBank's DHCP fingerprints (option 55 lists and vendor classes)."""
        return self.db.get("fingerbank", fingerbank.load, fingerbank.EMPTY)

    def _satori_dhcp(self) -> satori.Index:
        """Satori's DHCP tests (option 55 lists and vendor codes)."""
        return self.db.get("satori-dhcp", _satori("dhcp_tests"), satori.EMPTY)

    def ssh(self, banner: str) -> list[Claim]:
        c = rules.ssh_banner(banner)
        if c:
            return [c]
        idx = self.db.get("satori-ssh", _satori("ssh_tests"), satori.EMPTY)
        c = satori.best(idx.match("ssh", banner), 0.8)
        return [c] if c else []

    def smb(self, text: str, lanman: bool) -> list[Claim]:
        c = None if lanman else rules.smb_native_os(text)
        if c:
            return [c]
        idx = self.db.get("satori-smb", _satori("smb_tests"), satori.EMPTY)
        c = satori.best(idx.match("smbnativelanman" if lanman else "smbnativename", text), 0.9)
        if c is None and lanman:
            c = rules.smb_native_os(text)
        return [c] if c else []

    def http_server(self, text: str) -> list[Claim]:
        c = rules.http_server(text)
        if c:
            return [c]
        idx = self.db.get("satori-web", _satori("webserver_tests", os_names=False), satori.EMPTY)
        c = satori.best(idx.match("webserver", text), 0.7)
        return [c] if c else []

    def tls(self, fingerprint: str) -> tuple[list[str], Claim | None]:
        """A JA3 or JA4: the client stacks Satori knows it from, and what it says of the OS
        (its RDP clients name Windows releases)."""
        empty: dict[str, list[str]] = {}
        names = self.db.get("satori-ssl", satori.load_clients, empty).get(fingerprint, [])
        idx = self.db.get("satori-ssl-os", _satori("ssl_tests"), satori.EMPTY)
        return names, satori.best(idx.match("sslsig", fingerprint), 0.6)

    def vendor(self, mac: int) -> tuple[str | None, Claim | None]:
        """The MAC's vendor and what it says about the device, the same for every MAC
        of one 36-bit block (the longest prefix the lists know)."""
        k = ("vendor", mac >> 12)
        hit: tuple[str | None, Claim | None] | None = self.db.memo.get(k)
        if hit is not None:
            return hit
        tables = [self.db.get(name, oui.load_ieee, oui.EMPTY) for name in ("oui36", "iab", "mam", "oui")]
        found = oui.lookup(tables, mac)
        if found is None and not oui.is_local(mac):
            found = oui.lookup([self.db.get("manuf", oui.load_manuf, oui.EMPTY)], mac)
        claim = _oui_claim(found) if found else None
        if claim is not None and claim.device is not None and brands.host_adapter(mac):
            claim = Claim(0.3, None, Device(None, claim.device.vendor))  # the host itself, not a guest
        return self.db.remember(k, (found, claim))


IOT_MODULES = re.compile(
    r"^(Espressif|Hi-?flying|Shanghai High-Flying|GainSpan|Tuya|Shenzhen Bilian|Particle|Beken)", re.I
)


def _oui_claim(registrant: str) -> Claim | None:
    """What a block's registrant says: the brand (a fallback) and a kind for single-purpose
    makers; for a Wi-Fi module's maker, at most that the device is a small one."""
    if brands.module_maker(registrant):
        return Claim(0.3, None, Device("IoT")) if IOT_MODULES.match(registrant) else None
    c = rules.oui_vendor(registrant)
    assert c.device is not None
    return Claim(c.weight, c.os, Device(c.device.type, brands.brand(registrant)), c.match)


def _satori(tag: str, os_names: bool = True) -> Callable[[Any], satori.Index]:
    return lambda path: satori.load(path, tag, os_names)

"""Which facts say what a device is (its type, brand and model) beyond its OS: the claims of
names, announcements, cloud endpoints and firmware strings, added to those `predict`
draws from the fingerprint databases and `rules`.
"""

from __future__ import annotations

from nps_sensor.discovery.fingerprints import announcements, brands, hostnames, rules
from nps_sensor.discovery.fingerprints.claims import Claim, Device

NOT_MODELS = frozenset({"xserve"})  # Synology's NAS announce model=Xserve for Finder's icon


def claims(source: str, key: str, value: str) -> list[Claim]:
    """What one text fact says of the device's identity (none: [])."""
    one: Claim | None = None
    if key in ("hostname", "fqdn"):
        one = hostnames.hostname(value)
    elif source == "ssdp" and key in ("nt", "st"):
        one = announcements.ssdp_type(value)
    elif source == "ssdp" and key == "server":
        one = announcements.ssdp_server(value)
    elif source == "mdns" and key == "service":
        instance, _, rest = value.partition("._")
        service = ".".join(f"_{rest}".split(".")[:2])
        return [c for c in (announcements.mdns_instance(instance), announcements.mdns_service(service)) if c]
    elif source == "mdns" and key == "model":
        if rules.mdns_model(value) is None and value.strip().lower() not in NOT_MODELS:
            one = Claim(0.5, None, Device(None, None, value.strip()))
    elif source == "http" and key in ("user_agent", "server"):
        one = brands.firmware(value)
    elif (source, key) in (("http", "host"), ("tls", "sni")):
        one = brands.cloud(value)
    return [one] if one else []


def service(kind: str) -> list[Claim]:
    """An mDNS SRV record's service type (`_hue._tcp`)."""
    c = announcements.mdns_service(kind)
    return [c] if c else []

"""The hub's certificate pinned by its SHA-256: what a fingerprint looks like, in one form.

A fingerprint is what fits in a deployment property or is read out over the phone.
The appliance's settings check it (first boot, console, roles) and the uplink
compares it to the certificate the hub presents; both take it from here.
"""

from __future__ import annotations

import re

FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")  # SHA-256 of the hub's certificate, hex


def fingerprint(text: str) -> str:
    """A certificate fingerprint as people copy it (`AB:CD:...`, spaces) in one form: lowercase hex."""
    return "".join(c for c in text.lower() if c not in ": ")

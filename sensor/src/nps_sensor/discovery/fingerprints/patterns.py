"""The shape of a rule table: a pattern and what its match says (`Rule`), the first rule
that matches (`first`), a claim that needs nothing from the match (`fixed`). The rule
modules (`rules`, `windows`, `descriptions`) share them."""

from __future__ import annotations

import re
from collections.abc import Callable

from nps_sensor.discovery.fingerprints.claims import OS, Claim, Device

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], Claim | None]]


def first(rules: list[Rule], text: str) -> Claim | None:
    """The claim of the first rule whose pattern `text` matches."""
    for pattern, make in rules:
        m = pattern.search(text)
        if m:
            return make(m)
    return None


def fixed(weight: float, os: OS | None = None, device: Device | None = None) -> Callable[[re.Match[str]], Claim]:
    """A rule's claim that is the same whatever the match."""
    return lambda _m: Claim(weight, os, device)

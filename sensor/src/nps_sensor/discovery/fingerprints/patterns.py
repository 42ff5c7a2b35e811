"""The shape of a rule table: a pattern and what its match says (`Rule`), the first rule
that matches (`first`), a claim that needs nothing from the match (`fixed`), a pattern
compiled when first tried (`lazy`). The rule modules (`rules`, `windows`,
`descriptions`, `hostnames`, `brands`) share them."""

from __future__ import annotations

import re
from collections.abc import Callable

from nps_sensor.discovery.fingerprints.claims import OS, Claim, Device


class Lazy:
    """A pattern compiled when a text first reaches it. CPython parses and compiles a
    pattern in Python, which costs more than many searches: a table tried in order
    stops at its first match, so the rules after it, and the tables of facts a run
    never meets, are never compiled (discovery's cost, issue 18). Once compiled,
    `search` and `match` are the compiled pattern's own: no call in between."""

    __slots__ = ("flags", "match", "pattern", "search")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self.search: Callable[[str], re.Match[str] | None] = self._search
        self.match: Callable[[str], re.Match[str] | None] = self._match

    def compiled(self) -> re.Pattern[str]:
        rx = re.compile(self.pattern, self.flags)
        self.search, self.match = rx.search, rx.match
        return rx

    def _search(self, text: str) -> re.Match[str] | None:
        return self.compiled().search(text)

    def _match(self, text: str) -> re.Match[str] | None:
        return self.compiled().match(text)


def lazy(pattern: str, flags: int = 0) -> Lazy:
    return Lazy(pattern, flags)


Rule = tuple[Lazy, Callable[[re.Match[str]], Claim | None]]


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

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
    never meets, are never compiled (discovery's cost, issue 18). A text without the
    plain words the pattern opens with (`needs`: "Cisco " of "Cisco (IOS|NX-OS)") cannot
    match it and does not compile it either. Once compiled, `search` and `match` are
    the compiled pattern's own: no call in between."""

    __slots__ = ("flags", "match", "needs", "pattern", "search")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self.needs = needs(pattern, flags)
        self.search: Callable[[str], re.Match[str] | None] = self._search
        self.match: Callable[[str], re.Match[str] | None] = self._match

    def compiled(self) -> re.Pattern[str]:
        rx = re.compile(self.pattern, self.flags)
        self.search, self.match = rx.search, rx.match
        return rx

    def _cannot(self, text: str) -> bool:
        """Whether `text` lacks what every match contains. Case-blind, only for ASCII
        text: elsewhere a character may match a letter of another case (the Kelvin
        sign a "k")."""
        lit = self.needs
        if lit is None:
            return False
        if not self.flags:
            return lit not in text
        return text.isascii() and lit not in text.lower()

    def _search(self, text: str) -> re.Match[str] | None:
        return None if self._cannot(text) else self.compiled().search(text)

    def _match(self, text: str) -> re.Match[str] | None:
        return None if self._cannot(text) else self.compiled().match(text)


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_/:;,=")


def needs(pattern: str, flags: int = 0) -> str | None:
    """The plain characters every match of `pattern` contains, where it says so plainly:
    the letters, digits and punctuation it opens with (after a "^"), when no "|" at its
    top level offers another way; lower case for a case-blind pattern. None when there
    is no such run of two or more, or for flags other than IGNORECASE."""
    if flags not in (0, re.IGNORECASE) or _top_level_bar(pattern):
        return None
    body = pattern[1:] if pattern.startswith("^") else pattern
    n = 0
    while n < len(body) and body[n] in _PLAIN:
        n += 1
    if body[n : n + 1] in ("?", "*", "{"):  # the run's last character is optional
        n -= 1
    lit = body[:n]
    if len(lit) < 2:
        return None
    return lit.lower() if flags else lit


def _top_level_bar(pattern: str) -> bool:
    """Whether `pattern` has an alternative outside every group (escapes and sets skipped)."""
    depth, i, in_set = 0, 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_set:
            in_set = c != "]"
        elif c == "[":
            in_set = True
            i += 1 + (pattern[i + 1 : i + 2] == "^")
            i += pattern[i : i + 1] == "]"  # a "]" first in a set is one of its characters
            continue
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


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

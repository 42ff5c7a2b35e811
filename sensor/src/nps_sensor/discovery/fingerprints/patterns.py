"""The shape of a rule table: a pattern and what its match says (`Rule`), the first rule
that matches (`first`), a claim that needs nothing from the match (`fixed`), a pattern
compiled when first tried (`lazy`). The rule modules (`rules`, `windows`,
`descriptions`, `hostnames`, `brands`) share them."""

from __future__ import annotations

import re
from collections.abc import Callable

from nps_sensor.discovery.fingerprints.claims import OS, Claim, Device
from nps_sensor.discovery.fingerprints.pattern_words import WORDS


class Lazy:
    """A pattern compiled when a text first reaches it. CPython parses and compiles a
    pattern in Python, which costs more than many searches: a table tried in order
    stops at its first match, so the rules after it, and the tables of facts a run
    never meets, are never compiled (discovery's cost, issue 18). A text that contains
    none of the plain words some match must contain (`needs`: "Cisco " of
    "Cisco (IOS|NX-OS)", "withings." of "(?:^|\\.)withings\\.com$", one word per
    alternative of "JUNOS|Juniper Networks") cannot match it and does not compile it
    either. Once compiled, `search` and `match` are the compiled pattern's own: no call
    in between."""

    __slots__ = ("_needs", "flags", "match", "pattern", "search")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self._needs: tuple[str, ...] | bool | None = False  # False: not read from the pattern yet
        self.search: Callable[[str], re.Match[str] | None] = self._search
        self.match: Callable[[str], re.Match[str] | None] = self._match

    @property
    def needs(self) -> tuple[str, ...] | None:
        """The words (`needs` of the pattern), read from the pattern when a text first
        reaches it: of the 189 patterns a 1 M-packet run makes, 71 never meet a text, and
        reading a pattern is a loop per character (discovery's cost, issue 18)."""
        if self._needs is False:
            # from the table words_table writes (the same answer, not read a character
            # at a time in every run), or worked out for a pattern it does not hold
            known = WORDS.get((self.pattern, self.flags), False)
            self._needs = needs(self.pattern, self.flags) if known is False else known
        return self._needs  # type: ignore[return-value]

    def compiled(self) -> re.Pattern[str]:
        rx = re.compile(self.pattern, self.flags)
        self.search, self.match = rx.search, rx.match
        return rx

    def _cannot(self, text: str) -> bool:
        """Whether `text` lacks every one of the words one of which each match contains.
        Case-blind, only for ASCII text: elsewhere a character may match a letter of
        another case (the Kelvin sign a "k")."""
        words = self._needs
        if words is False:  # not read yet: `needs` reads it (an attribute after that, no call)
            words = self.needs
        if not isinstance(words, tuple):  # None: no words every match holds
            return False
        if self.flags:
            if not text.isascii():
                return False
            text = text.lower()
        return not any(map(text.__contains__, words))  # no generator's frame per text

    def _search(self, text: str) -> re.Match[str] | None:
        return None if self._cannot(text) else self.compiled().search(text)

    def _match(self, text: str) -> re.Match[str] | None:
        return None if self._cannot(text) else self.compiled().match(text)


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_/:;,=")
_OPTIONAL = frozenset("?*{")  # the character before may be absent
_ESCAPES = frozenset("xuUN0123456789")  # escapes with digits or a name of their own: not read here


def needs(pattern: str, flags: int = 0) -> tuple[str, ...] | None:
    """Plain words of which every match of `pattern` contains one: for each alternative
    at its top level, the longest run of plain characters (letters, digits, punctuation,
    escaped punctuation) outside every group and set, none of them optional; lower case
    for a case-blind pattern. None when an alternative has no such run of two or more,
    for flags other than IGNORECASE, or where the pattern sets flags inline."""
    if flags not in (0, re.IGNORECASE):
        return None
    words = []
    for branch in _branches(pattern):
        word = _longest_run(branch)
        if word is None or (flags and not word.isascii()):  # case-blind "ſ" is an "s" too
            return None
        words.append(word.lower() if flags else word)
    return tuple(words)


def _branches(pattern: str) -> list[str]:
    """The pattern's alternatives at its top level (escapes, sets and groups kept whole)."""
    out, depth, i, begin = [], 0, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = _set_end(pattern, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            out.append(pattern[begin:i])
            begin = i + 1
        i += 1
    out.append(pattern[begin:])
    return out


def _set_end(pattern: str, i: int) -> int:
    """The index after the set that opens at `i` ("]" first in a set is one of its characters)."""
    i += 1 + (pattern[i + 1 : i + 2] == "^")
    i += pattern[i : i + 1] == "]"
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _longest_run(branch: str) -> str | None:
    """The longest run of plain characters every match of `branch` (no top-level "|")
    contains, or None."""
    runs: list[str] = []
    run: list[str] = []
    i, depth = 0, 0
    while i < len(branch):
        c = branch[i]
        if depth:
            if c == "\\":
                i += 1
            elif c == "[":
                i = _set_end(branch, i) - 1
            elif c in "()":
                depth += 1 if c == "(" else -1
            i += 1
            continue
        literal = None
        if c == "\\":
            nxt = branch[i + 1 : i + 2]
            if nxt in _ESCAPES or not nxt:
                return None
            if not nxt.isalnum():
                literal = nxt
            i += 2
        elif c in _PLAIN:
            literal = c
            i += 1
        elif c == "(":
            if branch[i + 1 : i + 2] == "?" and branch[i + 2 : i + 3] not in (":", "=", "!", "<", "P"):
                return None  # inline flags: (?i), (?x) ...
            depth, i = 1, i + 1
        elif c == "[":
            i = _set_end(branch, i)
        elif c == "{":  # a count: its digits are no text
            close = branch.find("}", i)
            i = len(branch) if close < 0 else close + 1
        else:
            i += 1  # ".", "^", "$", a quantifier after a group or set
        q = branch[i : i + 1]
        if literal is not None and q not in _OPTIONAL and q != "+":
            run.append(literal)
            continue
        if literal is not None and q == "+":
            run.append(literal)  # present at least once: the run ends after it
        runs.append("".join(run))
        run = []
    runs.append("".join(run))
    best = max(runs, key=len)
    return best if len(best) >= 2 else None


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

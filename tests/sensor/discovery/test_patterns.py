"""The rule tables' patterns: a text that lacks a pattern's opening words is not tried
on it (`patterns.Lazy`), and that never changes an answer."""

from __future__ import annotations

import gc
import inspect
import re

import pytest

from nps_sensor.discovery.fingerprints import descriptions, hostnames, rules, windows
from nps_sensor.discovery.fingerprints.patterns import Lazy, needs

TEXTS = [
    "Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 15.0(2)SE",
    "Cisco NX-OS(tm) n9000",
    "Microsoft-IIS/10.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)",
    "Windows Phone OS 7.5",
    "MSFT 5.0",
    "udhcp 1.30.1",
    "Linux/3.10 UPnP/1.0 Portable SDK for UPnP devices/1.6.22",
    "RouterOS 6.48 MikroTik",
    "Apache/2.4.57 (Debian)",
    "nginx/1.24.0",
    "EPSON3A4B5C",
    "",
]


def _lazies() -> list[Lazy]:
    """Every rule table's patterns (the tables are made on first use: made here)."""
    for module in (descriptions, hostnames, rules, windows):
        for name, f in vars(module).items():
            if name.endswith(("_rules", "_compiled")) and callable(f) and not inspect.signature(f).parameters:
                f()
    return [o for o in gc.get_objects() if isinstance(o, Lazy)]


def _variants(text: str) -> list[str]:
    """The text, in other cases, and with the Kelvin sign and the long s (a "k" and an
    "s" to a case-blind pattern)."""
    return [text, text.upper(), text.lower(), text.replace("k", "\u212a").replace("s", "\u017f")]


def test_the_tables_have_patterns_with_opening_words() -> None:
    lazies = _lazies()
    assert len(lazies) > 100
    assert sum(p.needs is not None for p in lazies) > 30


def test_a_text_without_the_opening_words_matches_nothing() -> None:
    """Every text a pattern is not tried on (`_cannot`) has no match of it indeed."""
    lazies = [p for p in _lazies() if p.needs]
    words = [w for p in lazies for w in p.needs or ()]
    texts = [v for t in [*TEXTS, *words, *(f"x {w} 1.2" for w in words)] for v in _variants(t)]
    skipped = 0
    for p in lazies:
        rx = re.compile(p.pattern, p.flags)
        for t in texts:
            if p._cannot(t):
                skipped += 1
                assert rx.search(t) is None, (p.pattern, t)
            elif t.isascii() and t.lower() in [w.lower() for w in p.needs or ()]:
                assert not p._cannot(t)
    assert skipped > 1000


def test_every_match_holds_one_of_the_words() -> None:
    """The other way round: each pattern's own matches, on texts made to match it, hold
    one of its words (a word that is not in every match would skip a text it matches)."""
    checked = 0
    for p in _lazies():
        if not p.needs:
            continue
        rx = re.compile(p.pattern, p.flags)
        for t in TEXTS + [f"{w}" for w in p.needs] + [f"a {w} 1.2 b" for w in p.needs]:
            for v in _variants(t):
                m = rx.search(v)
                if m is not None:
                    checked += 1
                    assert not p._cannot(v), (p.pattern, v)
    assert checked > 50


@pytest.mark.parametrize(
    ("pattern", "flags", "words"),
    [
        ("Cisco (IOS|NX-OS)", re.I, ("cisco ",)),
        ("Microsoft-IIS/([\\d.]+)", 0, ("Microsoft-IIS/",)),
        ("^EPSON[0-9A-F]{6}$", re.I, ("epson",)),
        ("Windows Phone(?: OS)? ([\\d.]+)", 0, ("Windows Phone",)),
        ("RouterOS\\s*([\\d.]+)?|MikroTik", re.I, ("routeros", "mikrotik")),  # one word per way
        ("JUNOS|Juniper Networks", 0, ("JUNOS", "Juniper Networks")),
        ("(?:^|\\.)withings\\.(?:net|com)$", 0, ("withings.",)),  # past a group, escaped dots
        ("\\biPhone\\b.*?OS (\\d+)", 0, ("iPhone",)),  # the longest run
        ("HP J\\w+ .*Switch|Comware", 0, ("Switch", "Comware")),
        ("a[]|]b|c", 0, None),  # "c": too short
        ("ab?c", 0, None),  # "b" optional: "a" alone is too short
        ("abc?d", 0, ("ab",)),
        ("ab+c", 0, ("ab",)),  # "abbc": the run ends after a repeated character
        ("ab{0,2}c", 0, None),
        ("xy{2}zw", 0, ("zw",)),  # a count's digits are no text
        ("^(DCS-\\d)", re.I, None),
        ("foo", re.I | re.S, None),
        ("(?i)foo", 0, None),  # flags inline
        ("\\x41bc", 0, None),  # an escape with digits of its own
        ("\u017fomething", re.I, ("omething",)),  # "ſ" is no plain character
        ("Lucas\\\u2019s", 0, ("Lucas\u2019s",)),  # escaped punctuation is text
        ("Lucas\\\u2019s", re.I, None),  # case-blind, only ASCII words
    ],
)
def test_opening_words(pattern: str, flags: int, words: tuple[str, ...] | None) -> None:
    assert needs(pattern, flags) == words


def test_the_words_table_is_current() -> None:
    """pattern_words.WORDS holds every table pattern's words as `needs` reads them, and no
    pattern the tables no longer have (regenerate: python -m
    nps_sensor.discovery.fingerprints.words_table, then ruff format it)."""
    from nps_sensor.discovery.fingerprints import pattern_words, words_table

    assert words_table.words() == pattern_words.WORDS


def test_a_pattern_missing_from_the_words_table_reads_its_own() -> None:
    p = Lazy(r"Nowhere(?:Else)? ([\d.]+)")
    assert p.needs == needs(r"Nowhere(?:Else)? ([\d.]+)") == ("Nowhere",)

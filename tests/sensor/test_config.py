"""The configuration file and IP classification, with its precedence rules."""

from __future__ import annotations

import ipaddress

import pytest

from nps_sensor.classify import (
    EXCLUDED,
    EXTERNAL,
    GROUP_ADDRESS,
    INVENTORIED,
    MONITORED,
    NON_INVENTORIED,
    Classifier,
)
from nps_sensor.config import V4_MAPPED, Config, load, parse, parse_mac
from nps_sensor.errors import ConfigError

EXAMPLE = """\
internal:                      # internal asset groups
  - name: Subnet-A
    inventory: true
    ranges: [10.10.10.0/24, "10.20.0.1-10.20.0.50"]
  - name: Subnet-B
    inventory: false
    ranges: [10.20.20.0/24]
excluded:
  ips: [10.10.10.66]
  macs: ["00:11:22:33:44:55"]
monitor_external:
  - name: social-media
    targets: [www.facebook.com, 31.13.65.36, "*.fbcdn.net"]
"""


def ip(text: str) -> int:
    a = ipaddress.ip_address(text)
    return V4_MAPPED | int(a) if a.version == 4 else int(a)


def test_example_from_the_issue_parses() -> None:
    cfg = parse(EXAMPLE, "example.yaml")
    assert [g.name for g in cfg.internal] == ["Subnet-A", "Subnet-B"]
    assert cfg.internal[1].inventory is False
    assert cfg.excluded_macs == {0x001122334455}
    assert cfg.monitor[0].domains == ["www.facebook.com", "*.fbcdn.net"]
    c = Classifier(cfg)
    assert c.verdict(ip("10.10.10.5")).cls == INVENTORIED
    assert c.verdict(ip("10.20.0.50")).group == "Subnet-A"
    assert c.verdict(ip("10.20.0.51")).cls == EXTERNAL
    assert c.verdict(ip("10.20.20.9")).cls == NON_INVENTORIED
    assert c.verdict(ip("10.10.10.66")).cls == EXCLUDED
    assert c.verdict(ip("10.10.10.7"), [0x001122334455]).cls == EXCLUDED
    assert c.verdict(ip("31.13.65.36")).cls == MONITORED
    assert c.label(ip("31.13.65.36")) == "social-media"
    assert c.label(ip("8.8.8.8")) == "External"
    assert c.label(ip("10.10.10.66")) == "Excluded"
    assert c.label(ip("10.10.10.5")) == "10.10.10.5"


def test_defaults_are_the_private_and_link_local_ranges() -> None:
    c = Classifier(Config())
    for inside in ("10.1.2.3", "172.31.255.255", "192.168.0.1", "169.254.1.1", "fd00::1", "fe80::1"):
        assert c.verdict(ip(inside)).cls == INVENTORIED, inside
    for outside in ("172.32.0.1", "8.8.8.8", "2001:db8::1", "100.64.0.1"):
        assert c.verdict(ip(outside)).cls == EXTERNAL, outside
    for group in ("224.0.0.251", "255.255.255.255", "0.0.0.0", "ff02::fb", "::"):
        assert c.verdict(ip(group)).cls == GROUP_ADDRESS, group
        assert c.label(ip(group)) == str(ipaddress.ip_address(group))


def test_most_specific_range_wins_then_first_listed() -> None:
    cfg = parse(
        """
internal:
  - {name: wide, inventory: true, ranges: [10.0.0.0/8]}
  - {name: narrow, inventory: false, ranges: [10.1.0.0/16]}
  - {name: same-as-narrow, inventory: true, ranges: [10.1.0.0/16]}
  - {name: one, inventory: true, ranges: ["10.1.2.3-10.1.2.3"]}
"""
    )
    c = Classifier(cfg)
    assert c.verdict(ip("10.2.0.1")).group == "wide"
    assert c.verdict(ip("10.1.0.1")).group == "narrow"  # tie with same-as-narrow: first listed
    assert c.verdict(ip("10.1.0.1")).cls == NON_INVENTORIED
    assert c.verdict(ip("10.1.2.3")).group == "one"


def test_excluded_beats_internal_and_internal_beats_monitored() -> None:
    cfg = parse(
        """
internal: [{name: lan, ranges: [192.168.0.0/16]}]
excluded: {ips: [192.168.1.0/30]}
monitor_external: [{name: watched, targets: [192.168.5.5, 8.8.8.0/24]}]
"""
    )
    c = Classifier(cfg)
    assert c.verdict(ip("192.168.1.2")).cls == EXCLUDED
    assert c.verdict(ip("192.168.5.5")).cls == INVENTORIED
    assert c.verdict(ip("8.8.8.8")).cls == MONITORED


def test_monitored_domains_match_through_dns_answers() -> None:
    c = Classifier(parse(EXAMPLE))
    cdn = ip("157.240.1.1")
    assert c.verdict(cdn).cls == EXTERNAL
    c.learn_dns(["static.xx.fbcdn.net"], [cdn])
    assert c.label(cdn) == "social-media"
    other = ip("1.2.3.4")
    c.learn_dns(["example.org", "cname.example.org"], [other])
    assert c.verdict(other).cls == EXTERNAL
    # The question name matches even when the answer comes through a CNAME chain.
    fb = ip("157.240.2.2")
    c.learn_dns(["www.facebook.com", "star-mini.c10r.facebook.com"], [fb])
    assert c.verdict(fb).cls == MONITORED


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("internal:\n  - name: a\n    ranges: [10.0.0.300/24]\n", 3, "internal[0].ranges[0]"),
        ("internal:\n  - name: a\n    ranges: [10.0.0.0/24]\n    inventroy: true\n", 4, "unknown key 'inventroy'"),
        ("internal:\n  - name: a\n    inventory: maybe\n    ranges: []\n", 3, "expected true or false"),
        ("excluded:\n  macs: [00:11:22]\n", 2, "not a MAC address"),
        ("internal:\n  - ranges: [10.0.0.0/8]\n", 2, "missing 'name'"),
        ('internal: [{name: a, ranges: ["10.0.0.9-10.0.0.1"]}]\n', 1, "ends before it starts"),
        ("reporting:\n  new_assets_window: -5\n", 2, "outside"),
        ("duplicates:\n  window_ms: 10\n  identical_window_ms: 20000\n", 3, "duplicates.identical_window_ms"),
        ("duplicates:\n  windowms: 10\n", 2, "unknown key 'windowms'"),
        ("monitor_external:\n  - name: x\n    targets: ['not a domain!']\n", 3, "neither an address"),
        ("internal: [\n", 2, "not valid YAML"),
        ("colour: blue\n", 1, "unknown key 'colour'"),
        ("internal:\n  - {name: a, ranges: [10.0.0.0/8]}\n  - {name: a, ranges: [11.0.0.0/8]}\n", 3, "used twice"),
    ],
)
def test_invalid_files_name_the_line_and_the_problem(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(text, "sensor.yaml")
    assert str(e.value).startswith(f"sensor.yaml:{line}:"), str(e.value)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_duplicate_windows() -> None:
    assert (Config().duplicates.window, Config().duplicates.identical_window) == (0.01, 0.0001)
    cfg = parse("duplicates: {window_ms: 5, identical_window_ms: 0.05}")
    assert (cfg.duplicates.window, cfg.duplicates.identical_window) == (0.005, 0.00005)


def test_missing_file_is_a_one_line_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load(str(tmp_path / "absent.yaml"))


def test_empty_file_gives_defaults() -> None:
    assert parse("").internal[0].name == "Default"


def test_mac_formats() -> None:
    assert parse_mac("00-11-22-33-44-55") == parse_mac("0011.2233.4455") == 0x001122334455
    with pytest.raises(ValueError):
        parse_mac("00:11:22:33:44:zz")

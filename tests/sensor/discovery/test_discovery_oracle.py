"""Discovery on every shared capture, checked against tshark as the oracle.

For each capture, what tshark extracts must be on the right asset of
`nps-sensor analyze` (every address inventoried, so that every device gets
attributes):

* every hostname in a DHCP option 12, on the asset of the DHCP client's MAC;
* every unique NetBIOS name with a host suffix (<00>, <20>) in an NBNS answer or
  registration, on the asset of the address it names;
* every name of an A/AAAA record in an mDNS or LLMNR response, on the asset of
  the responder (mDNS) or of the address (LLMNR);
* every TLS SNI and ClientHello JA3 (tshark's `tls.handshake.ja3`), on the asset of
  the client that sent it (its `tls_sni` and `ja3`);
* every HTTP User-Agent, on the asset of the client that sent it.

Names compare case-insensitively, without NetBIOS suffix types, a `.local` domain
or a trailing dot. An address tshark names that never sent a packet is not an
asset, so its names have nowhere to be (such cases are skipped, not failed).
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CONFIG = textwrap.dedent(
    """\
    internal:
      - name: all
        inventory: true
        ranges: ["0.0.0.0/0", "::/0"]
    """
)
FILTER = (
    "dhcp.option.hostname || nbns || mdns || llmnr || tls.handshake.extensions_server_name || tls.handshake.ja3"
    " || http.user_agent"
)
LAYERS = "frame eth ip ipv6 dhcp nbns mdns llmnr tls http"
HOST_SUFFIX = re.compile(r"<(00|20)>$")


def norm(name: str) -> str:
    name = re.sub(r"<[0-9a-fA-F]{2}>$", "", name.strip()).rstrip(".").lower()
    return name[: -len(".local")] if name.endswith(".local") else name


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) below a tshark JSON layer, depth first."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def values(node: Any, key: str) -> list[str]:
    out: list[str] = []
    for k, v in walk(node):
        if k == key:
            out.extend(v if isinstance(v, list) else [v])
    return out


def records(layer: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The resource records of a DNS-like layer (answers and additional records)."""
    for section in ("Answers", "Additional records", "Authoritative nameservers"):
        for rr in (layer.get(section) or {}).values():
            if isinstance(rr, dict):
                yield rr


def expectations(tshark: str, capture: Path) -> list[tuple[str, str, str, str]]:
    """(kind, how to find the asset, key, expected value) from tshark's decoding."""
    proc = subprocess.run(
        [tshark, "-r", str(capture), "-n", "-Y", FILTER, "-T", "json", "-J", LAYERS],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if not proc.stdout.strip():
        return []
    out: list[tuple[str, str, str, str]] = []
    for packet in json.loads(proc.stdout):
        layers = packet["_source"]["layers"]
        src = (layers.get("ipv6") or {}).get("ipv6.src") or (layers.get("ip") or {}).get("ip.src")
        if isinstance(src, list):
            src = src[-1]
        if "dhcp" in layers:
            mac = (layers["dhcp"] or {}).get("dhcp.hw.mac_addr")
            for name in values(layers["dhcp"], "dhcp.option.hostname"):
                if mac and norm(name):
                    out.append(("hostname", f"mac:{mac}", "dhcp", norm(name)))
        if "nbns" in layers:
            flags = layers["nbns"].get("nbns.flags_tree") or {}
            response = flags.get("nbns.flags.response") == "1"
            opcode = flags.get("nbns.flags.opcode")
            rcode = flags.get("nbns.flags.rcode", "0")
            if (response and rcode == "0") or opcode in ("5", "8", "9"):
                for rr in records(layers["nbns"]):
                    name = rr.get("nbns.name", "")
                    groups = values(rr, "nbns.nb_flags.group")
                    if rr.get("nbns.type") == "32" and HOST_SUFFIX.search(name) and "1" not in groups:
                        for addr in values(rr, "nbns.addr"):
                            if addr != "0.0.0.0" and norm(name) not in ("", "*"):
                                out.append(("hostname", f"ip:{addr}", "nbns", norm(name)))
        for proto in ("mdns", "llmnr"):
            layer = layers.get(proto)
            if not layer or (layer.get("dns.flags_tree") or {}).get("dns.flags.response") != "1":
                continue
            for rr in records(layer):
                address = rr.get("dns.a") or rr.get("dns.aaaa")
                owner = norm(str(rr.get("dns.resp.name", "")))
                if address and owner:
                    where = f"ip:{src}" if proto == "mdns" else f"ip:{address}"
                    out.append(("hostname", where, proto, owner))
        for sni in values(layers.get("tls") or {}, "tls.handshake.extensions_server_name"):
            if src and sni:
                out.append(("tls_sni", f"ip:{src}", "tls", sni.lower().rstrip(".")))
        for ja3 in values(layers.get("tls") or {}, "tls.handshake.ja3"):
            if src and ja3:
                out.append(("ja3", f"ip:{src}", "tls", ja3))
        for agent in values(layers.get("http") or {}, "http.user_agent"):
            if src and agent.strip():
                out.append(("user_agents", f"ip:{src}", "http", "".join(c for c in agent if c.isprintable()).strip()))
    return sorted(set(out))


def find(assets: list[dict[str, Any]], where: str) -> dict[str, Any] | None:
    kind, _, value = where.partition(":")
    for a in assets:
        if kind == "mac" and (a.get("mac") == value or value in (a.get("macs") or [])):
            return a
        if kind == "ip":
            ips = {x["ip"] for x in a.get("ips") or []} | {a.get("ip")}
            if value in ips:
                return a
    return None


def test_discovery_agrees_with_tshark(
    shared_capture: str, pcaps_dir: Path, tshark: str, tmp_path: Path, analyze: Callable[..., Any]
) -> None:
    capture = pcaps_dir / shared_capture
    expected = expectations(tshark, capture)
    if not expected:
        pytest.skip(f"{shared_capture}: tshark finds no hostname, SNI or User-Agent here")
    config = tmp_path / "all.yaml"
    config.write_text(CONFIG)
    code, result, err = analyze(capture, config=config)
    assert result is not None, f"{shared_capture}: no JSON result (exit {code}): {err.strip()[-300:]}"
    assets = result["assets"]
    problems = []
    for field, where, source, value in expected:
        asset = find(assets, where)
        if asset is None:
            continue  # an address that never sent a packet: no asset to carry it
        if field == "hostname":
            have = {norm(h["name"]) for h in asset.get("hostnames", [])}
        else:
            have = {v.lower() if field == "tls_sni" else v for v in asset.get(field, [])}
        if value not in have:
            problems.append(f"{field} {value!r} ({source}) not on the asset of {where} (it has {sorted(have)[:6]})")
    assert not problems, f"{shared_capture}: {len(problems)} missing\n  " + "\n  ".join(problems[:30])

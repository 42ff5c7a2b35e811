"""OS and device predictions on shared captures, against what each capture itself proves.

Each case names a device by an address (or its MAC, for link-layer-only devices)
and what its own packets prove: a DHCP vendor class `MSFT 5.0` is Windows, SMB's
native OS string names the Windows release, a CDP platform names a Cisco model, an
S7comm module identification names a Siemens PLC. The prediction must say so, and
list the evidence it came from. Fingerprint databases come from
`$NPS_FINGERPRINTS` (else `../shared/fingerprints`); without them the test skips.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Proof:
    capture: str
    device: str  # an address in the asset's `ips`, or "mac:..."
    field: str  # "os" or "device"
    says: dict[str, str]  # field of the prediction -> text it must contain (any case)
    evidence: str  # a source that must be in the prediction's evidence


PROOFS = [
    Proof("dhcp/dhcp-option60-msft.pcap", "mac:28:cf:da:dc:8d:76", "os", {"name": "windows"}, "dhcp"),
    Proof("smb/smbv1-win7.pcap", "10.128.0.243", "os", {"name": "windows 7"}, "smb"),
    Proof("smb/smb-windows10-ntlm.pcap", "192.168.199.132", "os", {"name": "windows 10"}, "ntlm"),
    Proof("smb/smb1-osx-qnap.pcap", "192.168.1.10", "os", {"name": "macos"}, "smb"),
    Proof("smb/smb1-osx-qnap.pcap", "192.168.1.2", "device", {"type": "nas", "vendor": "qnap"}, "smb"),
    Proof("mixed/win10-workgroup-lan.pcap", "192.168.199.133", "os", {"name": "windows 10"}, "ntlm"),
    Proof("cdp/cdp-v1-router.pcap", "mac:00:e0:1e:d5:d5:15", "device", {"type": "router", "vendor": "cisco"}, "cdp"),
    Proof(
        "cdp/lldp-and-cdp-c3560.pcap",
        "mac:00:18:ba:98:68:8f",
        "device",
        {"type": "switch", "model": "ws-c3560"},
        "cdp",
    ),
    Proof("cdp/lldp-and-cdp-c3560.pcap", "mac:00:18:ba:98:68:8f", "os", {"name": "ios"}, "cdp"),
    Proof("lldp/wireshark-lldp.pcap", "mac:00:13:21:57:ca:7f", "device", {"type": "switch"}, "lldp"),
    Proof("ics/s7comm-szl-ident.pcap", "172.17.0.2", "device", {"type": "plc", "vendor": "siemens"}, "s7comm"),
    Proof(
        "ics/enip-cip-example.pcap",
        "10.1.1.164",
        "device",
        {"vendor": "rockwell", "model": "1756-enbt"},
        "enip",
    ),
]


def find(assets: list[dict[str, Any]], device: str) -> dict[str, Any] | None:
    for a in assets:
        if device.startswith("mac:") and a.get("id") == device:
            return a
        if device in {x["ip"] for x in a.get("ips") or []}:
            return a
    return None


@pytest.fixture(scope="module")
def analyzed(pcaps_dir: Path, shared_fingerprints: Path, analyze: Callable[..., Any]) -> Iterator[Callable[[str], Any]]:
    """`nps-sensor analyze` on a shared capture with the shared databases, once per capture."""
    done: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NPS_DATA_DIR", str(shared_fingerprints))

        def result(capture: str) -> Any:
            if capture not in done:
                done[capture] = analyze(pcaps_dir / capture)
            return done[capture]

        yield result


@pytest.mark.parametrize("proof", PROOFS, ids=lambda p: f"{p.capture}:{p.device}:{p.field}")
def test_prediction_agrees_with_the_capture(proof: Proof, analyzed: Callable[[str], Any]) -> None:
    code, result, err = analyzed(proof.capture)
    assert result is not None, f"{proof.capture}: no result (exit {code}): {err[-300:]}"
    asset = find(result["assets"], proof.device)
    assert asset is not None, f"{proof.capture}: no asset for {proof.device}"
    prediction = asset.get(proof.field)
    assert prediction, f"{proof.device}: no {proof.field} prediction (evidence: {asset.get('evidence')})"
    for key, text in proof.says.items():
        value = str(prediction.get(key) or "")
        assert text in value.lower(), f"{proof.device}: {proof.field}.{key} is {value!r}, the capture proves {text!r}"
    assert 0 < prediction["confidence"] <= 1
    sources = {e["source"] for e in prediction["evidence"]}  # "dhcp.vendor_class", "cdp.platform", ...
    assert proof.evidence in {s.split(".")[0] for s in sources}, (
        f"{proof.device}: evidence {sorted(sources)} lacks {proof.evidence}"
    )

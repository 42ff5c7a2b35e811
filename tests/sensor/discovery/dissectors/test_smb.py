"""SMB and NTLMSSP: session setups, negotiate responses, NetBIOS session requests; user names never recorded."""

from __future__ import annotations

import struct

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config
from nps_sensor.pipeline import Collector
from tests.sensor.discovery.dissectors.frames import A4, B4, Case, about, collect, tcp4
from tests.sensor.discovery.dissectors.test_nbns import netbios_encoded


def nbss(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(3, "big") + message


def smb1_header(command: int, reply: bool) -> bytes:
    flags = 0x98 if reply else 0x18
    return b"\xffSMB" + bytes([command]) + bytes(4) + bytes([flags]) + struct.pack("<H", 0xC807) + bytes(20)


def utf16z(s: str) -> bytes:
    return s.encode("utf-16-le") + b"\0\0"


def smb1_session_setup_response() -> bytes:
    head = smb1_header(0x73, True) + bytes([3]) + b"\xff\x00\x00\x00\x00\x00"
    strings = utf16z("Windows Server 2003 3790 Service Pack 2") + utf16z("Windows Server 2003 5.2") + utf16z("CORP")
    data = b"\x00" + strings  # one pad byte: unicode strings start 2-aligned from the header
    return nbss(head + struct.pack("<H", len(data)) + data)


def smb2_header(command: int, response: bool) -> bytes:
    return (
        b"\xfeSMB"
        + struct.pack("<HHIHHII", 64, 0, 0, command, 1, 1 if response else 0, 0)
        + bytes(8)
        + bytes(4)
        + bytes(4)
        + bytes(8)
        + bytes(16)
    )


def smb2_negotiate_response() -> bytes:
    body = struct.pack("<HHH", 65, 1, 0x0311) + bytes(58)
    return nbss(smb2_header(0, True) + body)


def ntlm_challenge() -> bytes:
    target = "CORP".encode("utf-16-le")
    pairs = b"".join(
        struct.pack("<HH", av, len(v.encode("utf-16-le"))) + v.encode("utf-16-le")
        for av, v in ((2, "CORP"), (1, "FS01"), (4, "corp.example"), (3, "fs01.corp.example"), (5, "corp.example"))
    ) + struct.pack("<HH", 0, 0)
    flags = 0x00000001 | 0x02000000 | 0x00800000
    head_len = 56
    version = bytes([10, 0]) + struct.pack("<H", 20348) + b"\x00\x00\x00\x0f"
    return (
        b"NTLMSSP\x00"
        + struct.pack("<I", 2)
        + struct.pack("<HHI", len(target), len(target), head_len)
        + struct.pack("<I", flags)
        + b"\x11" * 8
        + bytes(8)
        + struct.pack("<HHI", len(pairs), len(pairs), head_len + len(target))
        + version
        + target
        + pairs
    )


def ntlm_authenticate() -> bytes:
    domain, user, host = (s.encode("utf-16-le") for s in ("CORP", "alice", "WS-0042"))
    flags = 0x00000001 | 0x02000000
    at = 88  # after the header, version and MIC
    fields, payload = [], b""
    for value in (b"\x00" * 24, b"\x01" * 24, domain, user, host, b"\x02" * 16):
        fields.append(struct.pack("<HHI", len(value), len(value), at + len(payload)))
        payload += value
    version = bytes([10, 0]) + struct.pack("<H", 19045) + b"\x00\x00\x00\x0f"
    return (
        b"NTLMSSP\x00"
        + struct.pack("<I", 3)
        + b"".join(fields)
        + struct.pack("<I", flags)
        + version
        + bytes(16)
        + payload
    )


def smb2_session_setup(response: bool, blob: bytes) -> bytes:
    if response:
        body = struct.pack("<HHHH", 9, 0, 72, len(blob))
    else:
        body = struct.pack("<HBBIIHHQ", 25, 0, 1, 0, 0, 88, len(blob), 0)
    return nbss(smb2_header(1, response) + body + blob)


def session_request() -> bytes:
    body = netbios_encoded("FILESRV", 0x20) + netbios_encoded("LAPTOP-7", 0x00)
    return b"\x81\x00" + len(body).to_bytes(2, "big") + body


def _cases() -> list[Case]:
    chall = smb2_session_setup(True, b"\xa1\x81\xff" + ntlm_challenge())
    auth = smb2_session_setup(False, b"\xa1\x82\x01\x00" + ntlm_authenticate())
    return [
        Case(
            "smb",
            tcp4(445, 50000),
            smb1_session_setup_response(),
            {
                ("smb", "service", ("tcp", 445, "smb")),
                ("smb", "native_os", "Windows Server 2003 3790 Service Pack 2"),
                ("smb", "native_lanman", "Windows Server 2003 5.2"),
                ("smb", "domain", "CORP"),
            },
            early_end=4 + 32 + 7 + 2 + 1 + len(utf16z("Windows Server 2003 3790 Service Pack 2")),
            early={("smb", "native_os", "Windows Server 2003 3790 Service Pack 2")},
        ),
        Case("smb", tcp4(445, 50000), smb2_negotiate_response(), {("smb", "dialect", "3.1.1")}),
        Case(
            "smb",
            tcp4(445, 50000),
            chall,
            {
                ("ntlm", "os_version", "10.0.20348"),
                ("ntlm", "target_name", "CORP"),
                ("ntlm", "netbios_domain", "CORP"),
                ("ntlm", "netbios_computer", "FS01"),
                ("ntlm", "dns_domain", "corp.example"),
                ("ntlm", "dns_computer", "fs01.corp.example"),
                ("ntlm", "dns_tree", "corp.example"),
                ("smb", "hostname", "FS01"),
                ("smb", "hostname", "fs01.corp.example"),
            },
            early_end=chall.index(b"NTLMSSP") + 56 + 8 + 4 + 8 + 4 + 8,
            early={("ntlm", "os_version", "10.0.20348"), ("ntlm", "target_name", "CORP"), ("smb", "hostname", "FS01")},
        ),
        Case(
            "smb",
            tcp4(50000, 445),
            auth,
            {
                ("ntlm", "os_version", "10.0.19045"),
                ("ntlm", "domain", "CORP"),
                ("ntlm", "workstation", "WS-0042"),
                ("smb", "hostname", "WS-0042"),
            },
        ),
        Case("smb", tcp4(50000, 139), session_request(), {("smb", "hostname", "LAPTOP-7")}),
    ]


CASES = _cases()


def test_smb_session_request_names_both_ends() -> None:
    facts, _ = collect([tcp4(50000, 139)(session_request())])
    assert ("smb", "hostname", "FILESRV") in about(facts, B4)


def test_smb_authenticate_never_records_the_user() -> None:
    facts, _ = collect([tcp4(50000, 445)(smb2_session_setup(False, ntlm_authenticate()))])
    assert all("alice" not in str(v) for _, _, _, _, v in facts)


def test_smb_bulk_segments_are_not_selected() -> None:
    """File data on port 445 stays on the fast path: only negotiate and session setup."""
    read = nbss(smb2_header(8, True) + bytes(1000))
    frames = [tcp4(445, 50000)(read), tcp4(445, 50000)(bytes(1200)), tcp4(445, 50000)(smb2_negotiate_response())]
    c = Collector(Config())
    c.process(batch_from_frames(frames))
    assert c.stats_dict()["discovery"]["packets"] == 1


def test_ntlm_bad_domain_keeps_the_workstation() -> None:
    auth = bytearray(ntlm_authenticate())
    auth[28 + 4 : 28 + 8] = struct.pack("<I", 0xFFFF)  # the domain's offset past the message
    facts, errors = collect([tcp4(50000, 445)(smb2_session_setup(False, bytes(auth)))])
    assert ("ntlm", "workstation", "WS-0042") in about(facts, A4)
    assert ("ntlm", "domain", "CORP") not in about(facts, A4)
    assert errors.get("malformed-smb") == 1

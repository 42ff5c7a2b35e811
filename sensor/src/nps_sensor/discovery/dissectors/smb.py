"""SMB (1, 2 and 3) and the NTLMSSP messages it carries: OS strings and names.

Windows and Samba hosts name themselves at every session setup:

* SMB1 session setup requests and responses end with the sender's native OS
  ("Windows 7 Ultimate 7601 Service Pack 1") and LAN manager strings, and its
  primary domain; an SMB1 negotiate response without extended security names the
  server and its domain;
* NTLMSSP, inside SMB1 or SMB2 session setups: the server's CHALLENGE lists its
  NetBIOS and DNS computer and domain names (AV pairs), the client's AUTHENTICATE
  its workstation and domain; NEGOTIATE, CHALLENGE and AUTHENTICATE each carry the
  sender's Windows version (major.minor.build);
* an SMB2 negotiate response gives the dialect the server chose;
* on port 139, a NetBIOS session request names the calling and the called host.

User names and password hashes are never recorded. Hostnames have source `smb`;
NTLMSSP details source `ntlm`.
"""

from __future__ import annotations

import struct

from nps_sensor.discovery.dissectors.netbios import decode_name
from nps_sensor.discovery.fingerprints import readers, rules
from nps_sensor.discovery.packet import Malformed, Packet, text
from nps_sensor.discovery.protocol import Fact, Protocol, one
from nps_sensor.discovery.signature import Alternative, Signature, eq

SMB_PORTS = (445, 139)

SESSION_MESSAGE, SESSION_REQUEST = 0x00, 0x81
SMB1, SMB2 = b"\xffSMB", b"\xfeSMB"
SMB1_NEGOTIATE, SMB1_SESSION_SETUP = 0x72, 0x73
SMB1_REPLY, SMB1_UNICODE = 0x80, 0x8000
SMB1_EXTENDED_SECURITY = 0x80000000
SMB2_NEGOTIATE = 0
SMB2_RESPONSE = 0x1
DIALECTS = {0x0202: "2.0.2", 0x0210: "2.1", 0x0300: "3.0", 0x0302: "3.0.2", 0x0311: "3.1.1"}
NTLMSSP = b"NTLMSSP\x00"
NEGOTIATE, CHALLENGE, AUTHENTICATE = 1, 2, 3
NTLM_UNICODE, NTLM_VERSION = 0x00000001, 0x02000000
AV_NAMES = {1: "netbios_computer", 2: "netbios_domain", 3: "dns_computer", 4: "dns_domain", 5: "dns_tree"}
AV_EOL = 0


def dissect(p: Packet) -> None:
    b = p.payload
    if len(b) < 4:
        raise Malformed("shorter than a NetBIOS session header")
    if b[0] == SESSION_REQUEST:
        _session_request(p, b)
        return
    if b[0] != SESSION_MESSAGE:
        return
    msg = b[4 : 4 + int.from_bytes(b[1:4], "big")]
    magic = msg[0:4]
    try:
        if magic == SMB1:
            _smb1(p, msg)
        elif magic == SMB2:
            _smb2(p, msg)
        else:
            return
    finally:  # NTLMSSP facts even when the SMB layer around them is damaged
        at = msg.find(NTLMSSP)
        if at >= 0:
            ntlmssp(p, msg[at:])


def _session_request(p: Packet, b: bytes) -> None:
    """RFC 1002 4.3.2: the called and the calling NetBIOS names, each 34 bytes."""
    if len(b) < 4 + 68 or b[4] != 32 or b[38] != 32:
        raise Malformed("short NetBIOS session request")
    called, _ = decode_name(b[5:37])
    calling, _ = decode_name(b[39:71])
    if calling and calling != "*":
        p.fact("smb", "hostname", calling)
    if called and called not in ("*", "*SMBSERVER"):
        p.fact_dst("smb", "hostname", called)


def _smb1(p: Packet, msg: bytes) -> None:
    if len(msg) < 35:
        raise Malformed("short SMB1 header")
    command, flags = msg[4], msg[9]
    flags2 = int.from_bytes(msg[10:12], "little")
    reply = bool(flags & SMB1_REPLY)
    if reply:
        p.fact("smb", "service", ("tcp", p.sport, "smb"))
    unicode = bool(flags2 & SMB1_UNICODE)
    words = msg[32]
    at = 33 + 2 * words
    if at + 2 > len(msg):
        raise Malformed("SMB1 parameters run past the message")
    count = int.from_bytes(msg[at : at + 2], "little")
    data = at + 2  # offset of the byte block in `msg` (alignment is relative to the header)
    end = min(len(msg), data + count)
    if command == SMB1_SESSION_SETUP:
        labels: tuple[str, ...]
        if reply:
            if words == 4:  # extended security: the blob comes first
                data += int.from_bytes(msg[33 + 6 : 33 + 8], "little")
            elif words != 3:
                return
            labels = ("native_os", "native_lanman", "domain")
        elif words == 12:
            data += int.from_bytes(msg[33 + 14 : 33 + 16], "little")
            labels = ("native_os", "native_lanman", "domain")
        elif words == 13:
            oem, uni = struct.unpack_from("<HH", msg, 33 + 14)
            data += oem + uni
            labels = ("", "domain", "native_os", "native_lanman")  # the account is skipped
        else:
            return
        _strings(p, msg, data, end, unicode, labels)
    elif command == SMB1_NEGOTIATE and reply and words == 17:
        p.fact("smb", "dialect", "1")
        caps = int.from_bytes(msg[33 + 19 : 33 + 23], "little")
        if not caps & SMB1_EXTENDED_SECURITY:
            data += msg[33 + 33]  # the challenge
            _strings(p, msg, data, end, unicode, ("domain", "hostname"), align=False)


def _strings(
    p: Packet, msg: bytes, at: int, end: int, unicode: bool, labels: tuple[str, ...], align: bool = True
) -> None:
    """Null-terminated strings, UTF-16LE (2-byte aligned to the header, except in a
    negotiate response) or OEM."""
    for label in labels:
        if at >= end:
            return
        if unicode:
            if align:
                at += at & 1
            stop = at
            while stop + 1 < end and msg[stop : stop + 2] != b"\0\0":
                stop += 2
            raw = msg[at:stop].decode("utf-16-le", "replace").encode()
            at = stop + 2
        else:
            stop = msg.find(b"\0", at, end)
            stop = end if stop < 0 else stop
            raw = msg[at:stop]
            at = stop + 1
        value = text(raw)
        if label and value:
            p.fact("smb", label, value)


def _smb2(p: Packet, msg: bytes) -> None:
    if len(msg) < 64:
        raise Malformed("short SMB2 header")
    command = int.from_bytes(msg[12:14], "little")
    response = bool(int.from_bytes(msg[16:20], "little") & SMB2_RESPONSE)
    if not response:
        return
    p.fact("smb", "service", ("tcp", p.sport, "smb"))
    if command == SMB2_NEGOTIATE and len(msg) >= 72 and msg[64:66] == b"\x41\x00":  # structure size 65
        dialect = DIALECTS.get(int.from_bytes(msg[68:70], "little"))
        if dialect:
            p.fact("smb", "dialect", dialect)


def _buffer(m: bytes, at: int, unicode: bool = True) -> str:
    """An NTLMSSP security buffer (length, room, offset from the message start)."""
    if at + 8 > len(m):
        raise Malformed("NTLMSSP field runs past the message")
    size, _, offset = struct.unpack_from("<HHI", m, at)
    raw = m[offset : offset + size]
    if len(raw) != size:
        raise Malformed("NTLMSSP string runs past the message")
    return text(raw.decode("utf-16-le", "replace").encode() if unicode else raw)


def _version(p: Packet, m: bytes, at: int) -> None:
    if at + 8 <= len(m):
        major, minor, build = m[at], m[at + 1], int.from_bytes(m[at + 2 : at + 4], "little")
        if major:
            p.fact("ntlm", "os_version", f"{major}.{minor}.{build}")


def ntlmssp(p: Packet, m: bytes) -> None:
    """An NTLMSSP message starting at its signature (the rest of the segment after it)."""
    if len(m) < 12:
        raise Malformed("short NTLMSSP message")
    kind = int.from_bytes(m[8:12], "little")
    bad: Malformed | None = None  # a damaged name is skipped; raised after the others
    if kind == NEGOTIATE and len(m) >= 16:
        flags = int.from_bytes(m[12:16], "little")
        if flags & NTLM_VERSION:
            _version(p, m, 32)
    elif kind == CHALLENGE and len(m) >= 48:
        flags = int.from_bytes(m[20:24], "little")
        if flags & NTLM_VERSION:
            _version(p, m, 48)
        try:
            target = _buffer(m, 12, bool(flags & NTLM_UNICODE))
        except Malformed as e:  # the target info may still be whole
            bad, target = e, ""
        if target:
            p.fact("ntlm", "target_name", target)
        size, _, offset = struct.unpack_from("<HHI", m, 40)
        _av_pairs(p, m[offset : offset + size])
    elif kind == AUTHENTICATE and len(m) >= 64:
        flags = int.from_bytes(m[60:64], "little")
        unicode = bool(flags & NTLM_UNICODE)
        first = min(struct.unpack_from("<I", m, k)[0] for k in (16, 24, 32, 40, 48, 56))
        if flags & NTLM_VERSION and first >= 72:
            _version(p, m, 64)
        for at, keys in ((28, ("domain",)), (44, ("workstation", "hostname"))):
            try:
                value = _buffer(m, at, unicode)
            except Malformed as e:  # the other name may still be whole
                bad, value = e, ""
            if value:
                for key in keys:
                    p.fact("smb" if key == "hostname" else "ntlm", key, value)
    if bad is not None:
        raise bad


def _av_pairs(p: Packet, info: bytes) -> None:
    at = 0
    while at + 4 <= len(info):
        av_id, size = struct.unpack_from("<HH", info, at)
        if av_id == AV_EOL:
            return
        raw = info[at + 4 : at + 4 + size]
        if len(raw) != size:
            raise Malformed("NTLMSSP AV pair runs past the target info")
        at += 4 + size
        key = AV_NAMES.get(av_id)
        if key:
            value = text(raw.decode("utf-16-le", "replace").encode())
            if value:
                p.fact("ntlm", key, value)
                if key in ("netbios_computer", "dns_computer"):
                    p.fact("smb", "hostname", value)


def _magic(word: bytes) -> int:
    return int.from_bytes(word, "big")


PROTOCOL = Protocol(
    "smb",
    dissect,
    tcp=SMB_PORTS,
    # File transfers are the bulk of SMB and name nothing: only NetBIOS session requests,
    # and SMB1 or SMB2 negotiate and session setup (the command after the 4-byte header).
    naming=Signature(
        (
            Alternative(4, (eq(0, 1, SESSION_REQUEST),)),
            *(Alternative(20, (eq(4, 4, _magic(SMB1)), eq(8, 1, c))) for c in (SMB1_NEGOTIATE, SMB1_SESSION_SETUP)),
            *(Alternative(20, (eq(4, 4, _magic(SMB2)), eq(16, 2, c))) for c in (0x0000, 0x0100)),  # little-endian
        )
    ),
    facts=(
        Fact("smb", "hostname", ("sender", "receiver"), '"DC1"'),
        Fact("smb", "service", example='("tcp", 445, "smb")', kind=tuple),
        Fact("smb", "native_os", example='"Windows 7 Ultimate 7601 Service Pack 1"', reads=readers.smb_native_os),
        Fact("smb", "native_lanman", example='"Windows 7 Ultimate 6.1"', reads=readers.smb_lanman),
        Fact("smb", "domain", example='"CONTOSO"'),
        Fact("smb", "dialect", example='"3.1.1"'),
        Fact("ntlm", "os_version", example='"10.0.19041"', reads=one(rules.ntlm_version)),
        Fact("ntlm", "target_name", example='"CONTOSO"'),
        *(Fact("ntlm", key) for key in AV_NAMES.values()),
        Fact("ntlm", "workstation", example='"VICTIM-PC"'),
        Fact("ntlm", "domain", example='"CONTOSO"'),
    ),
)

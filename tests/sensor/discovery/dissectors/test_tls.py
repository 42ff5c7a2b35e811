"""TLS: ClientHello (SNI, JA3, JA4), ServerHello (JA3S) and certificate subjects.

JA4 comes from the example of FoxIO's specification (technical_details/JA4.md); JA3,
JA3S, HASSH and HASSHServer from tshark on the same packets written to a capture
(skipped where tshark is missing).
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
from pathlib import Path

import pytest

from nps_sensor.discovery.dissectors import tls
from nps_sensor.discovery.facts import Key, Seen, Value
from nps_sensor.synth import packets as P
from nps_sensor.synth.pcapw import PcapWriter
from tests.sensor.discovery.dissectors.frames import A4, B4, MA, MB, Case, about, collect, tcp4
from tests.sensor.discovery.dissectors.test_snmp import ber, ber_int, ber_oid
from tests.sensor.discovery.dissectors.test_ssh import (
    CYBERDUCK_HASSH,
    SSH_CLIENT_BANNER,
    SSH_SERVER_BANNER,
    cyberduck_kexinit,
    server_kexinit,
)

# TLS: the ClientHello of FoxIO's JA4 example (technical_details/JA4.md: its ciphers,
# extensions and signature algorithms in their original order), with GREASE values
# added where Chrome puts them: JA4 and JA3 must leave those out.
JA4_CIPHERS: tuple[int, ...] = struct.unpack(
    ">15H", bytes.fromhex("1301 1302 1303 c02b c02f c02c c030 cca9 cca8 c013 c014 009c 009d 002f 0035")
)


JA4_SIG_ALGS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)


JA4_OF_THE_EXAMPLE = "t13d1516h2_8daaf6152771_e5627efa2ab1"  # as JA4.md gives it


SNI_NAME = "www.example.com"


def tls_ext(kind: int, data: bytes) -> bytes:
    return struct.pack(">HH", kind, len(data)) + data


def client_fingerprints(facts: dict[Key, Seen]) -> dict[str, set[Value]]:
    out: dict[str, set[Value]] = {}
    for _, key, value in about(facts, A4):
        out.setdefault(key, set()).add(value)
    return out


def u16s(values: tuple[int, ...] | list[int]) -> bytes:
    return struct.pack(f">{len(values)}H", *values)


def tls_record(*messages: tuple[int, bytes]) -> bytes:
    body = b"".join(bytes([kind]) + len(m).to_bytes(3, "big") + m for kind, m in messages)
    return b"\x16\x03\x01" + struct.pack(">H", len(body)) + body


def client_hello_extensions(sni: str = SNI_NAME) -> list[bytes]:
    host = sni.encode()
    alpn = b"\x02h2\x08http/1.1"
    return [
        tls_ext(0x0A0A, b""),  # GREASE
        tls_ext(0x001B, b"\x02\x00\x02"),  # compress_certificate: brotli
        tls_ext(0x0000, struct.pack(">HBH", len(host) + 3, 0, len(host)) + host),
        tls_ext(0x0033, struct.pack(">H", 5 + 36) + b"\x2a\x2a\x00\x01\x00" + b"\x00\x1d\x00\x20" + bytes(range(32))),
        tls_ext(0x0010, struct.pack(">H", len(alpn)) + alpn),
        tls_ext(0x4469, b"\x00\x03\x02h2"),  # application_settings
        tls_ext(0x0017, b""),
        tls_ext(0x002D, b"\x01\x01"),
        tls_ext(0x000D, struct.pack(">H", 2 * len(JA4_SIG_ALGS)) + u16s(JA4_SIG_ALGS)),
        tls_ext(0x0005, b"\x01\x00\x00\x00\x00"),
        tls_ext(0x0023, b""),
        tls_ext(0x0012, b""),
        tls_ext(0x002B, b"\x06" + u16s((0x4A4A, 0x0304, 0x0303))),
        tls_ext(0xFF01, b"\x00"),
        tls_ext(0x000B, b"\x01\x00"),
        tls_ext(0x000A, b"\x00\x08" + u16s((0x3A3A, 0x001D, 0x0017, 0x0018))),
        tls_ext(0x1A1A, b"\x00"),  # GREASE
        tls_ext(0x0015, bytes(64)),  # padding
    ]


def client_hello(extensions: list[bytes] | None = None) -> bytes:
    exts = b"".join(client_hello_extensions() if extensions is None else extensions)
    suites = u16s((0x2A2A, *JA4_CIPHERS))
    body = (
        b"\x03\x03"
        + bytes(range(32))  # random
        + b"\x20"
        + bytes(range(32, 64))  # session id
        + struct.pack(">H", len(suites))
        + suites
        + b"\x01\x00"
        + struct.pack(">H", len(exts))
        + exts
    )
    return tls_record((1, body))


def x509_name(*parts: tuple[str, int, str]) -> bytes:
    return ber(0x30, b"".join(ber(0x31, ber(0x30, ber_oid(oid) + ber(tag, v.encode()))) for oid, tag, v in parts))


CERT_SUBJECT = "C=US, O=Example Corp, CN=intranet.corp.example"


def certificate_der() -> bytes:
    """An X.509 v3 certificate (P-256 key, ECDSA signature), built field by field."""
    subject = x509_name(
        ("2.5.4.6", 0x13, "US"), ("2.5.4.10", 0x0C, "Example Corp"), ("2.5.4.3", 0x0C, "intranet.corp.example")
    )
    issuer = x509_name(("2.5.4.3", 0x0C, "Example Issuing CA"))
    ecdsa_sha256 = ber(0x30, ber_oid("1.2.840.10045.4.3.2"))
    key = ber(
        0x30,
        ber(0x30, ber_oid("1.2.840.10045.2.1") + ber_oid("1.2.840.10045.3.1.7")) + ber(0x03, b"\x00\x04" + bytes(64)),
    )
    tbs = ber(
        0x30,
        ber(0xA0, ber_int(2))
        + ber_int(0x1234567)
        + ecdsa_sha256
        + issuer
        + ber(0x30, ber(0x17, b"250101000000Z") + ber(0x17, b"270101000000Z"))
        + subject
        + key,
    )
    signature = ber(0x03, b"\x00" + ber(0x30, ber_int(1 << 200) + ber_int(1 << 190)))
    return ber(0x30, tbs + ecdsa_sha256 + signature)


def server_flight() -> bytes:
    """ServerHello (TLS 1.2), Certificate and ServerHelloDone in one record."""
    exts = tls_ext(0xFF01, b"\x00") + tls_ext(0x000B, b"\x01\x00") + tls_ext(0x0023, b"") + tls_ext(0x0017, b"")
    hello = (
        b"\x03\x03"
        + bytes(range(100, 132))
        + b"\x20"
        + bytes(32)
        + b"\xc0\x2f\x00"
        + struct.pack(">H", len(exts))
        + exts
    )
    cert = certificate_der()
    chain = len(cert).to_bytes(3, "big") + cert
    return tls_record((2, hello), (11, len(chain).to_bytes(3, "big") + chain), (14, b""))


JA3S_TEXT = "771,49199,65281-11-35-23"


JA3_TEXT = (
    "771,"
    + "-".join(map(str, JA4_CIPHERS))
    + ",27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0"  # GREASE left out
)


def conversation(port: int, messages: list[tuple[bool, bytes]]) -> list[bytes]:
    """Segments between a client (A4) and a server (B4) on `port`, with sequence numbers
    that follow on, as tshark expects of a stream: (from the client?, payload) each."""
    seq = {True: 1000, False: 9000}
    frames = []
    for from_client, payload in messages:
        src, dst, sport, dport = (A4, B4, 50000, port) if from_client else (B4, A4, port, 50000)
        seg = P.tcp(src, dst, sport, dport, payload, flags="PA", seq=seq[from_client], ack=seq[not from_client])
        frames.append(P.ethernet(MB, MA, P.ETH_IPV4, P.ipv4(src, dst, P.PROTO_TCP, seg)))
        seq[from_client] += len(payload)
    return frames


def handshakes() -> list[bytes]:
    tls = conversation(443, [(True, client_hello()), (False, server_flight())])
    ssh = conversation(
        22,
        [(False, SSH_SERVER_BANNER), (True, SSH_CLIENT_BANNER), (False, server_kexinit()), (True, cyberduck_kexinit())],
    )
    return tls + ssh


def _cases() -> list[Case]:
    hello = client_hello()
    server = server_flight()
    return [
        Case(
            "tls",
            tcp4(50000, 443),
            hello,
            {("tls", "sni", SNI_NAME), ("tls", "ja4", JA4_OF_THE_EXAMPLE)},
            lengths=[(3, 2), (6, 3), (hello.index(b"\x00\x00\x00\x14") + 2, 2)],
        ),
        Case(
            "tls",
            tcp4(443, 50000),
            server,
            {
                ("tls", "ja3s", hashlib.md5(JA3S_TEXT.encode()).hexdigest()),
                ("tls", "service", ("tcp", 443, "tls")),
                ("tls", "cert_subject", CERT_SUBJECT),
            },
            lengths=[(3, 2), (server.index(b"\x0b\x00") + 1, 3)],
        ),
    ]


CASES = _cases()


def test_tls_client_hello_ja4_and_ja3() -> None:
    facts, _ = collect([tcp4(50000, 443)(client_hello())])
    ja3 = hashlib.md5(JA3_TEXT.encode()).hexdigest()
    assert about(facts, A4) == {("tls", "sni", SNI_NAME), ("tls", "ja4", JA4_OF_THE_EXAMPLE), ("tls", "ja3", ja3)}
    assert about(facts, B4) == {("tls", "service", ("tcp", 443, "tls"))}


def test_tls_ja4_without_sni_or_alpn() -> None:
    """To an IP address: 'i', no ALPN: '00', one extension fewer in each count."""
    exts = [e for e in client_hello_extensions() if e[:2] not in (b"\x00\x00", b"\x00\x10")]
    facts, _ = collect([tcp4(50000, 443)(client_hello(exts))])
    ja4 = next(v for s, k, v in about(facts, A4) if k == "ja4")
    assert ja4 == "t13i151400_8daaf6152771_e5627efa2ab1"  # b and c leave SNI and ALPN out anyway
    assert not any(k == "sni" for _, k, _ in about(facts, A4))


def test_ja4_derived_step_by_step() -> None:
    """A TLS 1.2 hello without supported_versions, built here, its JA4 worked out by hand."""
    host = b"printer.corp.example"
    alpn = b"\x08http/1.1\x02h2"
    exts = [
        tls_ext(0x0000, struct.pack(">HBH", len(host) + 3, 0, len(host)) + host),
        tls_ext(0x3A3A, b""),  # GREASE: neither counted nor hashed
        tls_ext(0x0010, struct.pack(">H", len(alpn)) + alpn),
        tls_ext(0x000D, b"\x00\x06" + u16s((0x0A0A, 0x0401, 0x0201))),  # GREASE first
        tls_ext(0x000B, b"\x01\x00"),
        tls_ext(0x000A, b"\x00\x04" + u16s((0x0017, 0x0018))),
        tls_ext(0x0017, b""),
    ]
    suites = u16s((0x2A2A, 0xC02F, 0x009C, 0x00FF))
    body = b"\x03\x03" + bytes(32) + b"\x00" + struct.pack(">H", len(suites)) + suites + b"\x01\x00"
    ext_bytes = b"".join(exts)
    hello = tls_record((1, body + struct.pack(">H", len(ext_bytes)) + ext_bytes))
    # a: TCP, version 1.2 (no supported_versions: the hello's own), SNI to a domain,
    # 3 ciphers and 6 extensions without GREASE, ALPN "http/1.1": first and last "h1".
    a = "t12d0306h1"
    # b: the ciphers sorted, as 4 hex digits (the renegotiation SCSV 00ff counts).
    b = hashlib.sha256(b"009c,00ff,c02f").hexdigest()[:12]
    # c: the extensions sorted without SNI and ALPN, then the signature algorithms in
    # their order, GREASE left out.
    c = hashlib.sha256(b"000a,000b,000d,0017_0401,0201").hexdigest()[:12]
    facts, _ = collect([tcp4(50000, 443)(hello)])
    assert client_fingerprints(facts)["ja4"] == {f"{a}_{b}_{c}"}
    ja3 = hashlib.md5(b"771,49199-156-255,0-16-13-11-10-23,23-24,0").hexdigest()
    assert client_fingerprints(facts)["ja3"] == {ja3}


@pytest.mark.parametrize(
    ("alpn", "chars"),
    [
        (b"h2", "h2"),
        (b"http/1.1", "h1"),
        (b"x", "xx"),
        (b"\xab", "ab"),
        (b"\xab\xcd", "ad"),
        (b"0\xab", "3b"),
        (b"0\xab\xcd1", "01"),
        (b"", "00"),
    ],
)
def test_ja4_alpn_characters(alpn: bytes, chars: str) -> None:
    """JA4.md's examples: alphanumeric ends as they are, otherwise hex digits."""
    assert tls._alpn_chars(alpn) == chars


def test_tls_server_flight_ja3s_and_certificate() -> None:
    facts, _ = collect([tcp4(443, 50000)(server_flight())])
    assert ("tls", "cert_subject", CERT_SUBJECT) in about(facts, A4)
    assert not about(facts, B4)


def test_tls_certificate_chain_longer_than_the_segment() -> None:
    """The subject of the first certificate is read from the part of the chain there is."""
    flight = server_flight()
    cut = flight[: flight.index(b"Example Corp") + 200]  # inside the key, after the subject
    facts, errors = collect([tcp4(443, 50000)(cut)])
    assert ("tls", "cert_subject", CERT_SUBJECT) in about(facts, A4)
    assert not errors.get("malformed-tls")
    facts, errors = collect([tcp4(443, 50000)(flight[: flight.index(b"Example Corp") - 20])])  # before the subject
    assert not any(k == "cert_subject" for _, k, _ in about(facts, A4))
    assert not errors.get("malformed-tls")


def test_tls_bad_extension_keeps_the_sni_and_is_counted() -> None:
    exts = client_hello_extensions()
    exts.insert(3, b"\x00\x2d\xff\xff")  # says 65535 bytes in a whole hello
    facts, errors = collect([tcp4(50000, 443)(client_hello(exts))])
    assert about(facts, A4) == {("tls", "sni", SNI_NAME)}
    assert errors.get("malformed-tls") == 1


def test_ja3_ja3s_and_hassh_against_tshark(tshark: str, tmp_path: Path) -> None:
    """tshark's own JA3, JA3S, HASSH and HASSHServer of the same packets (tshark 4.0
    has no JA4: JA4 is checked against the example of FoxIO's specification above)."""
    path = tmp_path / "handshakes.pcap"
    with PcapWriter(str(path)) as w:
        for i, frame in enumerate(handshakes()):
            w.write(1_700_000_000.0 + i, frame)
    names = ["tls.handshake.ja3", "tls.handshake.ja3s", "ssh.kex.hassh", "ssh.kex.hasshserver"]
    cmd = [tshark, "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    cmd += [x for name in names for x in ("-e", name)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    oracle = {name: v for line in out.splitlines() for name, v in zip(names, line.split("\t"), strict=False) if v}
    assert len(oracle) == 4, out
    facts, _ = collect(handshakes())
    assert ("tls", "ja3", oracle["tls.handshake.ja3"]) in about(facts, A4)
    assert ("tls", "ja3s", oracle["tls.handshake.ja3s"]) in about(facts, B4)
    assert ("ssh", "hassh", oracle["ssh.kex.hassh"]) in about(facts, A4)
    assert ("ssh", "hassh_server", oracle["ssh.kex.hasshserver"]) in about(facts, B4)
    assert oracle["ssh.kex.hassh"] == CYBERDUCK_HASSH

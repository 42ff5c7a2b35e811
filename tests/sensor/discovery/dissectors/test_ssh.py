"""SSH: both banners and HASSH from KEXINIT (the Cyberduck client of Salesforce's README);
encrypted packets left alone."""

from __future__ import annotations

import hashlib
import struct

from nps_sensor.capture.batch import batch_from_frames
from nps_sensor.config import Config
from nps_sensor.pipeline import Collector
from tests.sensor.discovery.dissectors.frames import A4, B4, Case, about, collect, tcp4

# SSH: the Cyberduck client of Salesforce's HASSH README (its lists and its hassh),
# and a server whose two directions differ, so that the direction HASSH reads shows.
CYBERDUCK_KEX = (
    "curve25519-sha256@libssh.org,diffie-hellman-group-exchange-sha256,ecdh-sha2-nistp521,ecdh-sha2-nistp384,"
    "ecdh-sha2-nistp256,diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,"
    "diffie-hellman-group14-sha256,diffie-hellman-group15-sha512,diffie-hellman-group16-sha512,"
    "diffie-hellman-group17-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256@ssh.com,"
    "diffie-hellman-group15-sha256,diffie-hellman-group15-sha256@ssh.com,diffie-hellman-group15-sha384@ssh.com,"
    "diffie-hellman-group16-sha256,diffie-hellman-group16-sha384@ssh.com,diffie-hellman-group16-sha512@ssh.com,"
    "diffie-hellman-group18-sha512@ssh.com"
)


CYBERDUCK_ENC = (
    "aes128-cbc,aes128-ctr,aes192-cbc,aes192-ctr,aes256-cbc,aes256-ctr,blowfish-cbc,blowfish-ctr,cast128-cbc,"
    "cast128-ctr,idea-cbc,idea-ctr,serpent128-cbc,serpent128-ctr,serpent192-cbc,serpent192-ctr,serpent256-cbc,"
    "serpent256-ctr,3des-cbc,3des-ctr,twofish128-cbc,twofish128-ctr,twofish192-cbc,twofish192-ctr,twofish256-cbc,"
    "twofish256-ctr,twofish-cbc,arcfour,arcfour128,arcfour256"
)


CYBERDUCK_MAC = "hmac-sha1,hmac-sha1-96,hmac-md5,hmac-md5-96,hmac-sha2-256,hmac-sha2-512"


CYBERDUCK_HASSH = "8a8ae540028bf433cd68356c1b9e8d5b"  # as the README gives it


def ssh_packet(message: bytes) -> bytes:
    """RFC 4253 binary packet, before encryption: length, padding length, payload, padding."""
    pad = 8 - (len(message) + 5) % 8
    pad += 8 if pad < 4 else 0
    return struct.pack(">IB", len(message) + pad + 1, pad) + message + bytes(pad)


def kexinit(kex: str, host_keys: str, enc: tuple[str, str], mac: tuple[str, str], comp: tuple[str, str]) -> bytes:
    lists = (kex, host_keys, *enc, *mac, *comp, "", "")
    body = b"".join(struct.pack(">I", len(x)) + x.encode() for x in lists)
    return ssh_packet(b"\x14" + bytes(range(16)) + body + b"\x00" + bytes(4))


def cyberduck_kexinit() -> bytes:
    comp = "zlib@openssh.com,zlib,none"
    return kexinit(CYBERDUCK_KEX, "ssh-rsa", (CYBERDUCK_ENC, CYBERDUCK_ENC), (CYBERDUCK_MAC,) * 2, (comp, comp))


def server_kexinit() -> bytes:
    return kexinit(
        "curve25519-sha256,ecdh-sha2-nistp256",
        "ssh-ed25519,rsa-sha2-512",
        ("aes256-gcm@openssh.com,aes128-ctr", "chacha20-poly1305@openssh.com,aes256-ctr"),
        ("hmac-sha2-256", "hmac-sha2-512-etm@openssh.com"),
        ("none", "none,zlib@openssh.com"),
    )


SERVER_HASSH_TEXT = (  # the server-to-client lists: what the server offers to send
    "curve25519-sha256,ecdh-sha2-nistp256;chacha20-poly1305@openssh.com,aes256-ctr;"
    "hmac-sha2-512-etm@openssh.com;none,zlib@openssh.com"
)


SSH_SERVER_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"


SSH_CLIENT_BANNER = b"SSH-2.0-Cyberduck/6.7.1.28683 (Mac OS X/10.13.6) (x86_64)\r\n"


def _cases() -> list[Case]:
    server_kex = SSH_SERVER_BANNER + server_kexinit()
    return [
        Case(
            "ssh",
            tcp4(22, 50000),
            server_kex,
            {
                ("ssh", "server_banner", SSH_SERVER_BANNER.decode().strip()),
                ("ssh", "service", ("tcp", 22, "OpenSSH_9.2p1")),
                ("ssh", "hassh_server", hashlib.md5(SERVER_HASSH_TEXT.encode()).hexdigest()),
            },
            early_end=len(SSH_SERVER_BANNER),
            early={("ssh", "server_banner", SSH_SERVER_BANNER.decode().strip())},
            lengths=[(len(SSH_SERVER_BANNER), 4), (len(SSH_SERVER_BANNER) + 22, 4)],
        ),
        Case(
            "ssh",
            tcp4(50000, 22),
            SSH_CLIENT_BANNER + cyberduck_kexinit(),
            {("ssh", "client_banner", SSH_CLIENT_BANNER.decode().strip()), ("ssh", "hassh", CYBERDUCK_HASSH)},
        ),
    ]


CASES = _cases()


def test_ssh_banners_by_port() -> None:
    """The side on port 22 is the server; elsewhere the side on the lower port."""
    facts, _ = collect(
        [
            tcp4(22, 50000)(SSH_SERVER_BANNER),
            tcp4(50000, 22, src=B4, dst=A4)(SSH_CLIENT_BANNER),
            tcp4(2222, 50001, src="10.1.1.30", dst=B4)(b"SSH-2.0-dropbear_2022.83\r\n"),
            tcp4(50002, 830, src=B4, dst="10.1.1.40")(b"SSH-1.99-Cisco-1.25\r\n"),
        ]
    )
    assert about(facts, A4) == {
        ("ssh", "server_banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"),
        ("ssh", "service", ("tcp", 22, "OpenSSH_9.2p1")),
        ("ssh", "service", ("tcp", 22, "ssh")),
    }
    assert ("ssh", "client_banner", SSH_CLIENT_BANNER.decode().strip()) in about(facts, B4)
    assert ("ssh", "service", ("tcp", 2222, "dropbear_2022.83")) in about(facts, "10.1.1.30")
    assert ("ssh", "client_banner", "SSH-1.99-Cisco-1.25") in about(facts, B4)


def test_ssh_1_99_banner_names_the_software() -> None:
    facts, _ = collect([tcp4(22, 50000)(b"SSH-1.99-OpenSSH_3.9p1\r\n")])
    assert ("ssh", "service", ("tcp", 22, "OpenSSH_3.9p1")) in about(facts, A4)


def test_ssh_kexinit_in_its_own_segment() -> None:
    """OpenSSH sends its KEXINIT after the peer's banner, in a segment of its own."""
    facts, _ = collect([tcp4(50000, 22)(SSH_CLIENT_BANNER), tcp4(50000, 22)(cyberduck_kexinit())])
    assert ("ssh", "hassh", CYBERDUCK_HASSH) in about(facts, A4)


def test_ssh_encrypted_segments_are_not_selected() -> None:
    """Only KEXINIT on port 22 joins the banners: the session's bulk stays on the fast path."""
    frames = [tcp4(22, 50000)(bytes(range(256)) * 4), tcp4(50000, 22)(ssh_packet(b"\x15"))]  # data, NEWKEYS
    c = Collector(Config())
    c.process(batch_from_frames(frames))
    assert c.stats_dict()["discovery"]["packets"] == 0

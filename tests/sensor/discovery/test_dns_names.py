"""DNS names and records read in C (sensor/csrc/dnsnames.c): the same text and the same
errors as the Python walk they replace (discovery's cost, issue 18)."""

from __future__ import annotations

import pytest

from nps_sensor.discovery.dissectors.dnsrecords import records
from nps_sensor.discovery.packet import Malformed
from nps_sensor.dns import DNSError, read_name

HEADER = b"\x00\x01\x84\x00" + b"\x00\x00\x00\x02\x00\x00\x00\x00"  # a response, 2 answers


def test_names_decoded_lowered_and_compressed() -> None:
    msg = HEADER + b"\x05Lu\xe2\x80\x99\x03\xffA\x80\x00" + b"\xc0\x0c"
    assert read_name(msg, 12) == ("lu’.\udcffa\udc80", 23)
    assert read_name(msg, 23) == ("lu’.\udcffa\udc80", 25)  # after the pointer, not its target


@pytest.mark.parametrize(
    ("tail", "error"),
    [
        (b"\x03abc", "name runs past the message"),
        (b"\xc0", "truncated compression pointer"),
        (b"\xc0\x0c", "compression pointer loop"),
        (b"\x40abc\x00", "unknown label type"),
        (b"\x09abc", "label runs past the message"),
        ((b"\x3f" + b"a" * 63) * 4 + b"\x00", "name longer than 255 bytes"),
    ],
)
def test_malformed_names(tail: bytes, error: str) -> None:
    with pytest.raises(DNSError, match=error):
        read_name(HEADER + tail, 12)


def test_records_before_the_damage_come_first() -> None:
    a = b"\x04host\x00" + b"\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + b"\x0a\x00\x00\x01"
    got = []
    with pytest.raises(Malformed, match="truncated resource record"):
        for r in records(HEADER + a + b"\xc0\x0c\x00\x01"):
            got.append(r)
    assert got == [("host", 1, 12 + 6 + 10, 4)]
    with pytest.raises(Malformed, match="shorter than a DNS header"):
        list(records(HEADER[:11]))

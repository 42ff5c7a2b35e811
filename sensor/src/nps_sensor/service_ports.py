"""What marks a server: well-known service ports (multicast and broadcast destinations are
the other mark, which the packet core tells by their addresses)."""

from __future__ import annotations

# Registered ports of services a sensor meets on enterprise, home and industrial
# networks, besides the system ports 0-1023 (which are all taken as services).
REGISTERED_SERVICES = (
    1080,
    1194,
    1433,
    1434,
    1521,
    1701,
    1723,
    1812,
    1813,
    1883,
    1900,
    2049,
    2082,
    2083,
    2181,
    2375,
    2376,
    2404,
    2483,
    2484,
    3000,
    3128,
    3260,
    3268,
    3269,
    3306,
    3389,
    3478,
    3702,
    4343,
    4500,
    4789,
    4840,
    5000,
    5001,
    5060,
    5061,
    5222,
    5353,
    5355,
    5432,
    5671,
    5672,
    5683,
    5900,
    5985,
    5986,
    6081,
    6379,
    6443,
    6653,
    7547,
    8000,
    8008,
    8080,
    8081,
    8443,
    8883,
    8888,
    9000,
    9092,
    9100,
    9200,
    9300,
    9418,
    9443,
    10000,
    10050,
    10051,
    10250,
    11211,
    15672,
    18245,
    20000,
    27017,
    32400,
    34962,
    34963,
    34964,
    44818,
    47808,
    49152,
    50000,
)


def _well_known() -> bytes:
    """Port -> 1 where the port marks a server: the packet core's table."""
    table = bytearray(65536)
    table[:1024] = b"\x01" * 1024
    for port in REGISTERED_SERVICES:
        table[port] = 1
    return bytes(table)


WELL_KNOWN = _well_known()

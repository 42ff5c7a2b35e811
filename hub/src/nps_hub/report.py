"""A sensor's report as the hub reads it: bounded on the wire, inflated in a stream
with a cap on size and ratio, counted before it is parsed, and checked by its schema
while it is parsed (pydantic reads the JSON and validates in one pass, in Rust).

Why counted first: a parser materialises what it reads, and 16 MiB of `[{},{},...]`
is five million objects (about 800 MiB) before any schema can say "too many". The
bytes that open objects and arrays and separate values bound how many there can be,
and counting them costs a few milliseconds.

The caps are sized for a report of up to 2,000 assets with their flows; the uplink
cuts a larger window into parts of that size (each a report of its own).
"""

from __future__ import annotations

import zlib
from typing import Annotated, Any, NotRequired, Required

from pydantic import Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from nps_hub import schema
from nps_hub.schema import Count, Free, FreeObject, Mac, Text16, Text32, Text40, Text64, Text128, Text255, Text512

MAX_WIRE = 8 << 20  # bytes of one report as sent (compressed or not)
MAX_INFLATED = 16 << 20  # bytes once decompressed
MAX_RATIO = 100  # inflated/compressed, checked past RATIO_FLOOR (JSON reports compress about 10:1)
RATIO_FLOOR = 1 << 20
MAX_CONTAINERS = 200_000  # objects and arrays in one report
MAX_SEPARATORS = 1_000_000  # commas: values in arrays and members of objects
MAX_ASSETS = 2_000
MAX_FLOWS = 25_000
CHUNK = 64 << 10
NOT_COUNTED = bytes(b for b in range(256) if b not in b"{[,")  # what count() leaves out

IpText = Annotated[str, schema.StringConstraints(max_length=45, pattern=r"^[0-9A-Fa-f:.]*$")]
Port = Annotated[int, Field(ge=0, le=65535)]
Scalar = schema.Text4096 | int | float | bool | None


class Refused(ValueError):
    """The body is not a report the hub takes; `status` is the HTTP answer (400, 413, 415)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class Seen(TypedDict, total=False):
    ip: Required[IpText]
    first_seen: Text40 | None
    last_seen: Text40 | None


class Hostname(TypedDict, total=False):
    name: Required[Text255]
    source: Text64


class Service(TypedDict, total=False):
    port: Port | None
    proto: Text16 | None
    product: Text255 | None


class Evidence(TypedDict, total=False):
    source: Text64 | None
    key: Text64 | None
    value: Scalar | Annotated[list[Scalar], Field(max_length=64)]
    count: Count


# One asset as the sensor reports it (nps_sensor.report); fields the hub does not know
# are left out. `class` is a keyword, hence the functional form.
Asset = TypedDict(
    "Asset",
    {
        "id": NotRequired[Text128],
        "ip": NotRequired[IpText | None],
        "name": NotRequired[Text255 | None],
        "mac": NotRequired[Mac | None],
        "class": NotRequired[Text32 | None],
        "group": NotRequired[Text128 | None],
        "first_seen": NotRequired[Text40 | None],
        "last_seen": NotRequired[Text40 | None],
        "packets": NotRequired[Count],
        "bytes_in": NotRequired[Count],
        "bytes_out": NotRequired[Count],
        "addresses": NotRequired[Count],
        "ips": NotRequired[Annotated[list[IpText | Seen], Field(max_length=1024)]],
        "macs": NotRequired[Annotated[list[Mac], Field(max_length=256)]],
        "vlans": NotRequired[Annotated[list[Annotated[int, Field(ge=0, le=4095)]], Field(max_length=256)]],
        "tunnel_ids": NotRequired[Annotated[list[Count], Field(max_length=256)]],
        "hostname": NotRequired[Text255 | None],
        "hostnames": NotRequired[Annotated[list[Text255 | Hostname], Field(max_length=256)]],
        "tls_sni": NotRequired[Annotated[list[Text255], Field(max_length=256)]],
        "ja3": NotRequired[Annotated[list[Text64], Field(max_length=256)]],
        "ja4": NotRequired[Annotated[list[Text64], Field(max_length=256)]],
        "user_agents": NotRequired[Annotated[list[Text512], Field(max_length=256)]],
        "services": NotRequired[Annotated[list[Service], Field(max_length=1024)]],
        "evidence": NotRequired[Annotated[list[Evidence], Field(max_length=1024)]],
        "vendor": NotRequired[Text255 | None],
        "vendor_note": NotRequired[Text255 | None],
        "os": NotRequired[FreeObject | None],
        "device": NotRequired[FreeObject | None],
        "behind_router": NotRequired[bool],
    },
)


class Flow(TypedDict, total=False):
    client: Required[Text128]
    server: Required[Text128]
    port: Port | None
    proto: Required[Text16]
    client_bytes: Count
    server_bytes: Count
    client_packets: Count
    server_packets: Count
    first_seen: Text40 | None
    last_seen: Text40 | None


class Report(TypedDict, total=False):
    kind: Text32
    window_start: Text40 | None
    window_end: Text40 | None
    assets: Required[Annotated[list[Asset], Field(max_length=MAX_ASSETS)]]
    flows: Required[Annotated[list[Flow], Field(max_length=MAX_FLOWS)]]
    sensor: Free
    stats: FreeObject


class FlowsOnly(TypedDict):
    flows: Required[Annotated[list[Flow], Field(max_length=MAX_FLOWS)]]


REPORT: TypeAdapter[Report] = TypeAdapter(Report)
FLOWS_ONLY: TypeAdapter[FlowsOnly] = TypeAdapter(FlowsOnly)


def inflate(data: bytes, encoding: str) -> bytes:
    """The body decompressed (gzip, deflate or none), in steps, refused with 413 as soon
    as it passes MAX_INFLATED or inflates more than MAX_RATIO times."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        if len(data) > MAX_INFLATED:
            raise Refused(413, f"a report is at most {MAX_INFLATED >> 20} MiB")
        return data
    if encoding not in ("gzip", "deflate"):
        raise Refused(415, f"Content-Encoding {encoding!r}: gzip, deflate or identity")
    d = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    out = bytearray()
    consumed = 0
    try:
        while consumed < len(data) and not d.eof:
            pending = data[consumed : consumed + CHUNK]
            consumed += len(pending)
            while pending:
                out += d.decompress(pending, MAX_INFLATED + 1 - len(out))
                pending = d.unconsumed_tail
                _check_growth(len(out), consumed - len(pending))
    except zlib.error as e:
        raise Refused(400, f"not a readable report: {encoding}: {e}") from None
    if not d.eof:
        raise Refused(400, f"not a readable report: the {encoding} data ends early")
    if d.unused_data or consumed < len(data):
        raise Refused(400, f"not a readable report: data after the end of the {encoding} stream")
    return bytes(out)


def _check_growth(size: int, consumed: int) -> None:
    if size > MAX_INFLATED:
        raise Refused(413, f"a report is at most {MAX_INFLATED >> 20} MiB once decompressed")
    if size > RATIO_FLOOR and size > MAX_RATIO * max(1, consumed):
        raise Refused(413, f"the report inflates more than {MAX_RATIO} times: refused as a decompression bomb")


def count(data: bytes) -> None:
    """Refuse (413) a body with more objects, arrays or values than a report has, before
    parsing it. Counts bytes inside strings too, so it errs on the safe side.

    One pass keeps only the bytes counted (`translate` deleting all the others), and the
    counts run over that remainder, a twentieth of a report: three `count`s over the
    whole body cost a third of what parsing it does."""
    marks = data.translate(None, NOT_COUNTED)
    if marks.count(b"{") + marks.count(b"[") > MAX_CONTAINERS:
        raise Refused(413, f"more than {MAX_CONTAINERS:,} JSON objects and arrays in one report")
    if marks.count(b",") > MAX_SEPARATORS:
        raise Refused(413, f"more than {MAX_SEPARATORS:,} JSON values in one report")


def parse(data: bytes) -> Report:
    """Parse and check in one pass; Refused(400) names the first field at fault."""
    try:
        return REPORT.validate_json(data)
    except ValidationError as e:
        raise Refused(400, schema.refusal(e)) from None


def read(body: bytes, encoding: str) -> Report:
    """The report in an uploaded body, or Refused."""
    data = inflate(body, encoding)
    count(data)
    return parse(data)


def read_flows(body: bytes, encoding: str) -> list[Flow]:
    """The traffic records of a body `read` took before (backlog.py): its assets are
    not checked again, which halves the work."""
    try:
        return FLOWS_ONLY.validate_json(inflate(body, encoding))["flows"]
    except ValidationError as e:
        raise Refused(400, schema.refusal(e)) from None


def asset_addresses(a: Asset | dict[str, Any]) -> list[str]:
    """Every address the sensor saw the asset use, its main one first, each once."""
    main = a.get("ip")
    out = [main] if main else []
    for item in a.get("ips") or ():
        text = item.get("ip") if isinstance(item, dict) else item
        if isinstance(text, str) and text and text not in out:
            out.append(text)
    return out

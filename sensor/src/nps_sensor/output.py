"""Writing results: JSON for programs, NDJSON for streams, CSV for spreadsheets, tables for people.

Every format writes the same bytes wherever it goes (a terminal, a pipe, a file, through
`inv`): no colour, no terminal width, no markup or emoji codes read out of the data
(a MAC such as `54:e1:ad:cd:ac:34` stays what it is). The table is as wide as its
content needs, so an address or a MAC is never cut; the free-text columns (vendor, OS)
are bounded and end in "…" when longer. Text from the network is shown with its
control characters escaped, so that no packet can drive the reader's terminal.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from json.encoder import encode_basestring_ascii
from typing import IO, Any

from nps_sensor.errors import SensorError

FORMATS = ("table", "csv", "json", "ndjson")
FORMAT_HELP = (
    "table (for people: assets with their names, vendor, OS and device type, the top flows), "
    "csv (one row per asset), json (the whole result) or ndjson (one asset or flow per line)"
)
TOP_FLOWS = 25
# Free-text columns: longer values end in "…" (the JSON has them whole).
WIDEST = {"hostname": 40, "vendor": 28, "os": 32}
ASSET_COLUMNS = (
    "IP",
    "MAC",
    "hostname",
    "vendor",
    "OS",
    "device",
    "class",
    "group",
    "packets",
    "in",
    "out",
    "last seen",
)
CSV_COLUMNS = (
    "name", "ip", "mac", "hostname", "vendor", "os", "os_family", "device_type", "class", "group", "packets",
    "bytes_in", "bytes_out", "first_seen", "last_seen",
)  # fmt: skip
RIGHT = {"packets", "in", "out", "port", "client bytes", "server bytes"}


def printable(text: str) -> str:
    """`text` with control and other non-printable characters escaped (\\x1b, \\u200b)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else (f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}") for c in text)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def asset_fields(a: dict[str, Any]) -> dict[str, str]:
    """What a person (or a spreadsheet) reads of an asset: plain strings, never None."""
    os_ = a.get("os") or {}
    device = a.get("device") or {}
    names = a.get("hostnames") or []
    return {
        "name": printable(a.get("name") or ""),
        "ip": a.get("ip") or "",
        "mac": a.get("mac") or "",
        "hostname": printable(names[0]["name"]) if names else "",
        "vendor": printable(a.get("vendor") or device.get("vendor") or ""),
        "os": printable(os_.get("name") or ""),
        "os_family": printable(os_.get("family") or ""),
        "device_type": printable(device.get("type") or ""),
        "class": a.get("class") or "",
        "group": printable(a.get("group") or ""),
        "packets": str(a.get("packets", 0)),
        "bytes_in": str(a.get("bytes_in", 0)),
        "bytes_out": str(a.get("bytes_out", 0)),
        "first_seen": a.get("first_seen") or "",
        "last_seen": a.get("last_seen") or "",
    }


def ndjson_lines(result: dict[str, Any]) -> Iterator[str]:
    for asset in result["assets"]:
        yield json.dumps({"type": "asset", **asset}, separators=(",", ":"))
    for flow in result["flows"]:
        yield json.dumps({"type": "flow", **flow}, separators=(",", ":"))
    yield json.dumps({"type": "stats", **result["stats"]}, separators=(",", ":"))


# A flow's keys as Record.as_dict gives them, in its order.
FLOW_KEYS = (
    "client",
    "server",
    "port",
    "proto",
    "client_bytes",
    "server_bytes",
    "client_packets",
    "server_packets",
    "first_seen",
    "last_seen",
)


def item_json(v: Any) -> str:
    """json.dumps(v), byte for byte. A flow (thousands in a result) is one format string
    with json's C escaping of its texts, a third of the generic encoder's work; anything
    else, or a flow with another shape or type, goes through json.dumps."""
    if type(v) is dict and tuple(v) == FLOW_KEYS:
        c, s, p, pr, cb, sb, cp, sp, t0, t1 = v.values()
        if (
            str is type(c) is type(s) is type(pr) is type(t0) is type(t1)
            and int is type(cb) is type(sb) is type(cp) is type(sp)
            and (p is None or type(p) is int)
        ):
            q = encode_basestring_ascii
            return (
                f'{{"client": {q(c)}, "server": {q(s)}, "port": {"null" if p is None else p}, "proto": {q(pr)}, '
                f'"client_bytes": {cb}, "server_bytes": {sb}, "client_packets": {cp}, "server_packets": {sp}, '
                f'"first_seen": {q(t0)}, "last_seen": {q(t1)}}}'
            )
    return json.dumps(v)


def write_json(result: dict[str, Any], out: IO[str]) -> None:
    """The whole result as one JSON document, an asset or a flow a line: a person can
    read and grep it, and json's C encoder writes it (an indented dump runs json's
    pure-Python encoder, several times slower on the flows of a large capture)."""
    out.write("{\n")
    last = len(result) - 1
    for i, (key, value) in enumerate(result.items()):
        if isinstance(value, list) and value:
            text = "[\n" + ",\n".join(f"  {item_json(v)}" for v in value) + "\n ]"
        else:
            text = json.dumps(value)
        out.write(f" {json.dumps(key)}: {text}{',' if i < last else ''}\n")
    out.write("}\n")


def render(result: dict[str, Any], fmt: str, out: IO[str]) -> None:
    if fmt == "json":
        write_json(result, out)
    elif fmt == "ndjson":
        for line in ndjson_lines(result):
            out.write(line + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(asset_fields(a) for a in result["assets"])
    else:
        table(result, out)


def write(result: dict[str, Any], fmt: str, path: str | None) -> None:
    """To stdout, or atomically to `path` (a reader never sees half a file), mode 0644
    less the umask, as any file a command writes: results hold no secret."""
    if path is None or path == "-":
        render(result, fmt, sys.stdout)
        sys.stdout.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".nps-", dir=directory)
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                render(result, fmt, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise SensorError(f"cannot write {path}: {e.strerror} (check the directory and free space)") from None


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return str(n)


def columns(title: str, header: tuple[str, ...], rows: list[list[str]], out: IO[str]) -> None:
    """A plain table: a title, the header, a rule, one line per row, columns as wide as
    their widest cell (two spaces apart; numbers right-aligned); no trailing spaces."""
    from rich.cells import cell_len  # a wide character takes two cells on a terminal

    widths = [max([len(h), *(cell_len(r[i]) for r in rows)]) for i, h in enumerate(header)]

    def line(cells: list[str] | tuple[str, ...]) -> str:
        parts = []
        for cell, width, name in zip(cells, widths, header, strict=True):
            pad = " " * (width - cell_len(cell))
            parts.append(pad + cell if name in RIGHT else cell + pad)
        return "  ".join(parts).rstrip()

    out.write(f"{title}\n\n{line(header)}\n{line(['-' * w for w in widths])}\n")
    for row in rows:
        out.write(line(row) + "\n")
    out.write("\n")


def table(result: dict[str, Any], out: IO[str]) -> None:
    rows = []
    for a in result["assets"]:
        f = asset_fields(a)
        named = f["name"] if f["name"] != f["mac"] else ""  # "External": the traffic of addresses outside
        rows.append(
            [
                f["ip"] or named,
                f["mac"],
                _clip(f["hostname"], WIDEST["hostname"]),
                _clip(f["vendor"], WIDEST["vendor"]),
                _clip(f["os"], WIDEST["os"]),
                f["device_type"],
                f["class"],
                f["group"],
                f["packets"],
                _bytes(a["bytes_in"]),
                _bytes(a["bytes_out"]),
                f["last_seen"][:19].replace("T", " "),
            ]
        )
    columns(f"Assets ({len(rows)})", ASSET_COLUMNS, rows, out)
    merged: dict[tuple[Any, ...], list[int]] = {}
    for fl in result["flows"]:
        key = (fl["client"], fl["server"], fl["port"], fl["proto"])
        m = merged.setdefault(key, [0, 0, 0, 0])
        m[0] += fl["client_bytes"]
        m[1] += fl["server_bytes"]
        m[2] += fl["client_packets"]
        m[3] += fl["server_packets"]
    top = sorted(merged.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), str(kv[0])))[:TOP_FLOWS]
    flow_rows = [
        [client, server, "" if port is None else str(port), proto, _bytes(cb), _bytes(sb), str(cp + sp)]
        for (client, server, port, proto), (cb, sb, cp, sp) in top
    ]
    header = ("client", "server", "port", "proto", "client bytes", "server bytes", "packets")
    columns(f"Top {len(top)} of {len(merged)} flows by bytes", header, flow_rows, out)
    out.write(summary(result["stats"]) + "\n")
    for err in result["stats"]["capture_errors"]:
        out.write(f"capture error: {printable(err)}\n")


def summary(s: dict[str, Any]) -> str:
    why = ", ".join(f"{k} {v}" for k, v in s["duplicates"]["reasons"].items() if v)
    line = (
        f"{s['packets']} packets, {_bytes(s['bytes'])}; {s['duplicates']['dropped']} duplicates dropped"
        f"{f' ({why})' if why else ''}; "
        f"{sum(s['decode_errors'].values())} undecodable; flows {s['flows']['created']} "
        f"(evicted {s['flows']['evicted_idle']} idle, {s['flows']['evicted_full']} for memory)"
    )
    if s["encapsulation"]:
        line += "; " + ", ".join(f"{k} {v}" for k, v in s["encapsulation"].items())
    return line

"""Writing results: JSON for programs, NDJSON for streams, tables for people."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from nps_sensor.errors import SensorError

if TYPE_CHECKING:
    from rich.console import Console

FORMATS = ("json", "ndjson", "table")
TOP_FLOWS = 25


def ndjson_lines(result: dict[str, Any]) -> Iterator[str]:
    for asset in result["assets"]:
        yield json.dumps({"type": "asset", **asset}, separators=(",", ":"))
    for flow in result["flows"]:
        yield json.dumps({"type": "flow", **flow}, separators=(",", ":"))
    yield json.dumps({"type": "stats", **result["stats"]}, separators=(",", ":"))


def render(result: dict[str, Any], fmt: str, out: IO[str], color: bool = False) -> None:
    if fmt == "json":
        json.dump(result, out, indent=1)
        out.write("\n")
    elif fmt == "ndjson":
        for line in ndjson_lines(result):
            out.write(line + "\n")
    else:
        from rich.console import Console  # only tables need it: JSON runs start faster

        table(result, Console(file=out, force_terminal=color, width=None if color else 160))


def write(result: dict[str, Any], fmt: str, path: str | None) -> None:
    """To stdout, or atomically to `path` (a reader never sees half a file)."""
    if path is None or path == "-":
        render(result, fmt, sys.stdout, color=sys.stdout.isatty())
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".nps-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
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


def table(result: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    assets = Table(title=f"Assets ({len(result['assets'])})", title_justify="left")
    for col in ("IP", "MAC", "class", "group", "packets", "in", "out", "first seen", "last seen"):
        assets.add_column(col, justify="right" if col in ("packets", "in", "out") else "left")
    for a in result["assets"]:
        assets.add_row(
            a["ip"] or a["name"],
            a["mac"] or "",
            a["class"],
            a["group"],
            str(a["packets"]),
            _bytes(a["bytes_in"]),
            _bytes(a["bytes_out"]),
            (a["first_seen"] or "")[:19],
            (a["last_seen"] or "")[:19],
        )
    console.print(assets)
    merged: dict[tuple[Any, ...], list[int]] = {}
    for f in result["flows"]:
        key = (f["client"], f["server"], f["port"], f["proto"])
        m = merged.setdefault(key, [0, 0, 0, 0])
        m[0] += f["client_bytes"]
        m[1] += f["server_bytes"]
        m[2] += f["client_packets"]
        m[3] += f["server_packets"]
    top = sorted(merged.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:TOP_FLOWS]
    flows = Table(title=f"Top {len(top)} of {len(merged)} flows by bytes", title_justify="left")
    for col in ("client", "server", "port", "proto", "client bytes", "server bytes", "packets"):
        flows.add_column(col, justify="right" if "bytes" in col or col in ("port", "packets") else "left")
    for (client, server, port, proto), (cb, sb, cp, sp) in top:
        flows.add_row(client, server, "" if port is None else str(port), proto, _bytes(cb), _bytes(sb), str(cp + sp))
    console.print(flows)
    s = result["stats"]
    why = ", ".join(f"{k} {v}" for k, v in s["duplicates"]["reasons"].items() if v)
    line = (
        f"{s['packets']} packets, {_bytes(s['bytes'])}; {s['duplicates']['dropped']} duplicates dropped"
        f"{f' ({why})' if why else ''}; "
        f"{sum(s['decode_errors'].values())} undecodable; flows {s['flows']['created']} "
        f"(evicted {s['flows']['evicted_idle']} idle, {s['flows']['evicted_full']} for memory)"
    )
    if s["encapsulation"]:
        line += "; " + ", ".join(f"{k} {v}" for k, v in s["encapsulation"].items())
    console.print(line, highlight=False)
    for err in s["capture_errors"]:
        console.print(f"capture error: {err}", style="bold red", highlight=False)

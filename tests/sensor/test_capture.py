"""Capture readers: every pcap variant, pcapng, and damaged files; the CLI's handling of them."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nps_sensor.capture import open_capture
from nps_sensor.errors import CaptureError
from nps_sensor.synth import PcapngWriter, PcapWriter
from nps_sensor.synth import packets as P

FRAMES = [
    P.eth_ipv4_udp("02:00:00:00:00:01", "02:00:00:00:00:02", "10.0.0.1", "10.0.0.2", 1000 + i, 53, bytes(i))
    for i in range(50)
]
TS = [1_700_000_000.5 + i * 0.001 for i in range(50)]


def read_all(path: Path) -> list[tuple[float, bytes, int, int]]:
    out = []
    for b in open_capture(str(path)).batches(size=7):  # small batches: boundaries get exercised
        raw = b.buffer
        for off, cap, wire, ts, lt in zip(b.off, b.caplen, b.wirelen, b.ts, b.linktype, strict=True):
            out.append((float(ts), bytes(raw[off : off + cap]), int(wire), int(lt)))
    return out


def write_pcap(path: Path, order: str, magic: int, scale: int, header_len: int = 16) -> None:
    with path.open("wb") as f:
        f.write(struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1))
        for ts, frame in zip(TS, FRAMES, strict=True):
            sec = int(ts)
            frac = round((ts - sec) * scale)
            f.write(struct.pack(order + "IIII", sec, frac, len(frame), len(frame) + 4))
            f.write(bytes(header_len - 16))
            f.write(frame)


@pytest.mark.parametrize(
    ("order", "magic", "scale", "header_len"),
    [
        ("<", 0xA1B2C3D4, 10**6, 16),
        (">", 0xA1B2C3D4, 10**6, 16),
        ("<", 0xA1B23C4D, 10**9, 16),
        (">", 0xA1B23C4D, 10**9, 16),
        ("<", 0xA1B2CD34, 10**6, 24),
    ],
)
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, order: str, magic: int, scale: int, header_len: int) -> None:
    path = tmp_path / "x.pcap"
    write_pcap(path, order, magic, scale, header_len)
    got = read_all(path)
    assert [g[1] for g in got] == FRAMES
    assert [g[2] for g in got] == [len(f) + 4 for f in FRAMES]
    assert np.allclose([g[0] for g in got], TS, atol=1e-6)


def test_truncated_capture_keeps_what_precedes_the_damage(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    with PcapWriter(str(path)) as w:
        for ts, f in zip(TS, FRAMES, strict=True):
            w.write(ts, f)
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    got = []
    with pytest.raises(CaptureError, match="truncated in record 50") as e:
        for b in open_capture(str(path)).batches(size=16):
            got.append(len(b))
    assert sum(got) == 49
    assert "49 packets before it" in str(e.value)


def test_corrupt_record_length_stops_there(tmp_path: Path) -> None:
    path = tmp_path / "bad.pcap"
    with PcapWriter(str(path)) as w:
        for ts, f in zip(TS[:3], FRAMES[:3], strict=True):
            w.write(ts, f)
    data = bytearray(path.read_bytes())
    second = 24 + 16 + len(FRAMES[0])
    struct.pack_into("<I", data, second + 8, 0x7FFFFFF0)
    path.write_bytes(bytes(data) + bytes(64))
    with pytest.raises(CaptureError, match="corrupt record header"):
        list(open_capture(str(path)).batches())


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"\x00\x01", "too short"), (b"hello world, not a capture", "not a pcap")],
)
def test_not_a_capture(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=message):
        open_capture(str(path))


def test_header_only_pcap_has_no_packets(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    with PcapWriter(str(path)):
        pass
    assert list(open_capture(str(path)).batches()) == []


def test_pcapng_interfaces_link_types_resolutions_sections(tmp_path: Path) -> None:
    path = tmp_path / "x.pcapng"
    ip_packet = FRAMES[3][14:]
    with PcapngWriter(str(path)) as w:
        eth = w.add_interface(1)
        raw = w.add_interface(101, tsresol=9)
        binary = w.add_interface(276, tsresol=0x80 | 20)
        w.write(eth, TS[0], FRAMES[0])
        w.write(raw, TS[1], ip_packet)
        w.write(binary, TS[2], P.sll2(P.ETH_IPV4, ip_packet))
        w.write_simple(FRAMES[4])
        w.new_section()
        again = w.add_interface(1, tsresol=3)
        w.write(again, TS[5], FRAMES[5])
    got = read_all(path)
    assert [g[3] for g in got] == [1, 101, 276, 1, 1]
    assert got[1][1] == ip_packet
    assert np.allclose([got[0][0], got[1][0], got[2][0]], TS[:3], atol=1e-5)
    assert abs(got[4][0] - TS[5]) < 1e-3
    batches = list(open_capture(str(path)).batches())
    assert sorted({int(i) for b in batches for i in b.iface}) == [0, 1, 2, 3]


def test_pcapng_truncated_block(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcapng"
    with PcapngWriter(str(path)) as w:
        i = w.add_interface(1)
        for ts, f in zip(TS[:5], FRAMES[:5], strict=True):
            w.write(i, ts, f)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(CaptureError, match="truncated"):
        list(open_capture(str(path)).batches())


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nps_sensor.cli", *args], capture_output=True, text=True, check=False)


def test_cli_damaged_capture_gives_results_and_one_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    with PcapWriter(str(path)) as w:
        for ts, f in zip(TS, FRAMES, strict=True):
            w.write(ts, f)
    path.write_bytes(path.read_bytes()[:-10])
    out = tmp_path / "out.json"
    r = cli("analyze", str(path), "-o", str(out))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    result = json.loads(out.read_text())
    assert result["stats"]["packets"] == 49
    assert result["stats"]["capture_errors"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "/nonexistent.pcap"], "no such file"),
        (["analyze", "/"], "is a directory"),
        (["analyze", "x.pcap", "--config", "/nonexistent.yaml"], "no such configuration file"),
    ],
)
def test_cli_errors_are_one_line(args: list[str], message: str) -> None:
    r = cli(*args)
    assert r.returncode != 0
    assert message in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.count("\n") <= 1


def test_cli_unwritable_output_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "ok.pcap"
    with PcapWriter(str(path)) as w:
        w.write(TS[0], FRAMES[0])
    r = cli("analyze", str(path), "-o", "/proc/nope/out.json")
    assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("fmt", ["json", "ndjson", "table"])
def test_cli_formats(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "ok.pcap"
    with PcapWriter(str(path)) as w:
        for ts, f in zip(TS, FRAMES, strict=True):
            w.write(ts, f)
    r = cli("analyze", str(path), "--format", fmt)
    assert r.returncode == 0, r.stderr
    if fmt == "json":
        assert {"assets", "flows", "stats"} <= json.loads(r.stdout).keys()
    elif fmt == "ndjson":
        types = [json.loads(line)["type"] for line in r.stdout.splitlines()]
        assert types[-1] == "stats" and "flow" in types and "asset" in types
    else:
        assert "Assets" in r.stdout and "10.0.0.1" in r.stdout

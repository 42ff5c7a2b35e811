"""The parsed IEEE lists kept between runs (fingerprints/cache.py): the same answer as a
parse, whatever state the cache is in."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from nps_sensor.discovery.fingerprints import Corrupt, cache, oui, p0f


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by a test are fresh, and get no stamp record, however slow the machine."""
    monkeypatch.setattr(cache, "SETTLED", 3600.0)


CSV = 'Registry,Assignment,Organization Name,Organization Address\nMA-L,000C29,"VMware, Inc.",Palo Alto\n'


def _parses(monkeypatch: pytest.MonkeyPatch, module: Any = oui, parser: str = "parse_ieee") -> list[Path]:
    """The paths a loader parsed (rather than read from the cache), from now on: its
    module's parser (`load_ieee`'s by default) records each path it is given."""
    seen: list[Path] = []
    real = getattr(module, parser)

    def recording(path: Path) -> Any:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(module, parser, recording)
    return seen


def test_second_load_reads_the_cache_and_gives_the_same_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPS_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "oui.csv"
    path.write_text(CSV)
    parses = _parses(monkeypatch)
    first = oui.load_ieee(path)
    second = oui.load_ieee(path)
    assert first.by_bits == second.by_bits == oui.parse_ieee(path).by_bits
    assert second.find(0x000C29123456) == "VMware, Inc."
    assert parses == [path, path]  # the load's parse, then the check's: the second load read the cache
    (entry,) = (tmp_path / "cache").iterdir()
    assert entry.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700


def test_a_settled_file_is_known_by_its_stamp_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NPS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "SETTLED", -1.0)  # every file is settled
    path = tmp_path / "oui.csv"
    path.write_text(CSV)
    first = oui.load_ieee(path)
    assert len(list((tmp_path / "cache").glob("*-at-*"))) == 1

    def unread(path: Path) -> str:
        raise AssertionError(f"{path} was read")

    monkeypatch.setattr(cache, "_digest", unread)
    assert oui.load_ieee(path).by_bits == first.by_bits == oui.parse_ieee(path).by_bits


def test_a_file_written_after_its_record_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same size; its times moved (as any write moves them), here surely by utime."""
    monkeypatch.setenv("NPS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "SETTLED", -1.0)
    path = tmp_path / "oui.csv"
    path.write_text(CSV)
    oui.load_ieee(path)
    before = path.stat().st_mtime_ns
    path.write_text(CSV.replace("VMware", "VMWARE"))
    os.utime(path, ns=(before + 10**9, before + 10**9))
    assert oui.load_ieee(path).find(0x000C29123456) == "VMWARE, Inc."


def test_a_fresh_file_gets_no_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file written within `SETTLED` seconds may be written again within its times'
    granularity: it is found by its bytes until it settles."""
    monkeypatch.setenv("NPS_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "oui.csv"
    path.write_text(CSV)
    oui.load_ieee(path)
    oui.load_ieee(path)
    assert ["-at-" in p.name for p in (tmp_path / "cache").iterdir()] == [False]


def test_changed_bytes_are_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same size, same modification time, other bytes: the cache is keyed by content."""
    monkeypatch.setenv("NPS_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "oui.csv"
    path.write_text(CSV)
    oui.load_ieee(path)
    path.write_text(CSV.replace("VMware", "VMWARE"))
    assert oui.load_ieee(path).find(0x000C29123456) == "VMWARE, Inc."


@pytest.mark.parametrize("damage", [b"", b"\x00garbage", b"\xe9" * 40])
def test_a_damaged_entry_is_parsed_again_and_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: bytes
) -> None:
    monkeypatch.setenv("NPS_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "oui.csv"
    path.write_text(CSV)
    oui.load_ieee(path)
    (entry,) = (tmp_path / "cache").iterdir()
    entry.write_bytes(damage)
    assert oui.load_ieee(path).find(0x000C29123456) == "VMware, Inc."
    assert oui.load_ieee(path).by_bits == oui.parse_ieee(path).by_bits


def test_a_well_formed_entry_of_another_shape_is_not_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import marshal

    monkeypatch.setenv("NPS_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "oui.csv"
    path.write_text(CSV)
    oui.load_ieee(path)
    (entry,) = (tmp_path / "cache").iterdir()
    entry.write_bytes(marshal.dumps([1, 2, 3]))
    assert oui.load_ieee(path).find(0x000C29123456) == "VMware, Inc."


def test_no_cache_where_none_can_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = tmp_path / "oui.csv"
    path.write_text(CSV)
    for where in (str(blocker / "cache"), ""):  # under a file; switched off
        monkeypatch.setenv("NPS_CACHE_DIR", where)
        parses = _parses(monkeypatch)
        assert oui.load_ieee(path).find(0x000C29123456) == "VMware, Inc."
        assert oui.load_ieee(path).find(0x000C29123456) == "VMware, Inc."
        assert len(parses) == 2
        monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "oui.csv"]


def test_a_corrupt_list_fails_every_time_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPS_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "oui.csv"
    path.write_text("not,the,header\n")
    for _ in range(2):
        with pytest.raises(Corrupt):
            oui.load_ieee(path)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_the_directory_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NPS_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.directory() == tmp_path / "xdg" / "nps-sensor"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.directory() == tmp_path / ".cache" / "nps-sensor"
    monkeypatch.delenv("HOME")
    assert cache.directory() is None


P0F = """[tcp:request]
label = s:unix:Linux:3.11 and newer
sig   = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0
sig   = this is not a signature
label = g:win:Windows:7 or 8
sig   = *:128:0:*:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0
"""


def test_p0f_read_back_from_the_cache_is_the_parsed_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NPS_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "p0f.fp"
    path.write_text(P0F)
    seen = _parses(monkeypatch, p0f, "parse")
    with caplog.at_level(logging.WARNING):
        first = p0f.load(path)
        second = p0f.load(path)
    assert seen == [path]  # the second load read the cache
    assert first == second
    assert [r.getMessage().count("not understood") for r in caplog.records] == [1, 1]  # said on every run

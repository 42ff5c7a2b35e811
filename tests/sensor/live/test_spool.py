"""The durable report spool: order, atomicity, the size bound and its counted losses, the
bound checked at start against its file system."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from nps_sensor.config import Config, SniffingInterface
from nps_sensor.live.service import Service
from nps_sensor.live.spool import Spool


def report(n: int, size: int = 100) -> dict[str, object]:
    return {"kind": "update", "n": n, "pad": "x" * size}


def test_reports_are_files_in_writing_order(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), 1 << 20)
    names = [spool.write(report(i)) or "" for i in range(5)]
    assert names == sorted(names) and all(names)
    files = spool.pending()
    assert [json.loads(Path(f).read_text())["n"] for f in files] == list(range(5))
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]
    assert oct(os.stat(files[0]).st_mode & 0o777) == "0o640"


def test_a_restart_continues_the_sequence_and_clears_interrupted_writes(tmp_path: Path) -> None:
    Spool(str(tmp_path), 1 << 20).write(report(1))
    (tmp_path / ".tmp-000000000002-update.json").write_text("{half a rep")
    again = Spool(str(tmp_path), 1 << 20)
    name = again.write(report(2))
    assert name is not None and name.startswith("000000000002")
    assert sorted(os.listdir(tmp_path)) == ["000000000001-update.json", "000000000002-update.json"]


def test_the_bound_drops_the_oldest_and_counts_them_across_restarts(tmp_path: Path) -> None:
    one = len(json.dumps(report(0, 1000), separators=(",", ":")))
    spool = Spool(str(tmp_path), one * 3 + 10)
    for i in range(5):
        spool.write(report(i, 1000))
    kept = [json.loads(Path(f).read_text())["n"] for f in spool.pending()]
    assert kept == [2, 3, 4]
    assert spool.status().dropped == 2
    assert Spool(str(tmp_path), one * 3 + 10).status().dropped == 2


def test_an_unwritable_spool_counts_the_loss_and_says_why(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "s"), 1 << 20)
    os.chmod(tmp_path / "s", 0o500)
    try:
        if os.geteuid() == 0:
            # root ignores permissions: make the directory vanish instead.
            os.chmod(tmp_path / "s", 0o700)
            os.rename(tmp_path / "s", tmp_path / "gone")
        assert spool.write(report(1)) is None
        assert "cannot write to the spool" in (spool.status().last_error or "")
    finally:
        for d in ("s", "gone"):
            if (tmp_path / d).exists():
                os.chmod(tmp_path / d, 0o700)


def test_a_bound_its_file_system_cannot_hold_is_said_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = Config()
    cfg.sensing.interfaces = [SniffingInterface("eth9")]
    cfg.sensing.spool_dir = str(tmp_path / "spool")
    cfg.sensing.spool_max_mb = 1 << 40  # a petabyte and more
    service = Service(cfg, None)
    assert service.spool.room_mb() < cfg.sensing.spool_max_mb
    with caplog.at_level(logging.WARNING, logger="nps-sensor"):
        service.preflight()
    lines = [r.getMessage() for r in caplog.records if "max_mb" in r.getMessage()]
    assert len(lines) == 1 and "cannot be met" in lines[0] and "\n" not in lines[0]
    cfg.sensing.spool_max_mb = 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="nps-sensor"):
        Service(cfg, None).preflight()
    assert not [r for r in caplog.records if "max_mb" in r.getMessage()]

"""A demo that fails keeps its logs: the run's folder goes (the hub's database, the
appliance's disk), and the error points at the hub's and the VM's logs where they stay.
No image and no boot here: the stages up to the VM are the demo's own, the VM's boot
fails at once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from nps_image import demo as demo_module
from nps_image.demo import FAILED, Demo, run
from nps_image.steps import BuildError


@contextlib.contextmanager
def _booted(disk: Path, fmt: str, properties: dict[str, str], work: Path) -> Iterator[Any]:
    work.mkdir(parents=True)
    (work / "serial.log").write_text("nps-demo-1 login: (the console's last words)\n")
    yield SimpleNamespace(work=work)


def _no_boot(demo: Demo, hub: Any, vm: Any, sensor_id: int) -> Any:
    raise BuildError(f"the VM did not answer on SSH in 420 s; see {vm.work / 'serial.log'}")


def test_a_failed_demo_keeps_its_logs_and_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_module, "image", lambda demo: (tmp_path, "demo", True))
    monkeypatch.setattr(demo_module, "extract_disk", lambda *a: tmp_path / "disk.vmdk")
    monkeypatch.setattr(demo_module, "booted", _booted)
    monkeypatch.setattr(demo_module, "_sensing", _no_boot)
    work = tmp_path / "demo"
    with pytest.raises(BuildError) as failed:
        run(Demo(work, say=lambda s: None))
    kept = work / FAILED
    assert f"see {kept / 'serial.log'}" in str(failed.value)
    assert str(failed.value).endswith(f"logs kept in {kept}")
    assert "the console's last words" in (kept / "serial.log").read_text()
    assert "serving on https://127.0.0.1:" in (kept / "hub.log").read_text()  # the hub's own account
    assert not list(work.glob("run-*"))  # the run's folder, with the hub's database, is gone

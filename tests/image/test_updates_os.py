"""Debian's security updates on the appliance: the mirrors, the schedule, apt's proxy and
the maintenance window, as the appliance's settings render them (every door writes them
through `nps-sensor appliance apply`, as for the network and the proxy), read back from
the files, and checked by apt and systemd themselves where they run here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from nps_sensor.appliance import updates_os
from nps_sensor.appliance.apply import apply, current
from nps_sensor.appliance.render import files, write
from nps_sensor.appliance.settings import Settings, SettingsError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path, files(Settings()))
    return tmp_path


def read(root: Path, path: str) -> str:
    return (root / path.lstrip("/")).read_text()


def test_the_defaults_take_security_updates_from_debian_nightly(root: Path) -> None:
    sources = read(root, updates_os.SOURCES)
    assert "URIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates" in sources
    assert "URIs: http://security.debian.org/debian-security\nSuites: bookworm-security" in sources
    assert "deb " not in read(root, updates_os.SOURCES_LIST)  # not the build host's mirror
    assert 'APT::Periodic::Unattended-Upgrade "1";' in read(root, updates_os.AUTO)
    assert "OnCalendar=\nOnCalendar=*-*-* 03:00\n" in read(root, updates_os.SCHEDULE)
    for absent in (updates_os.APT_PROXY, updates_os.WINDOW_TIMER, updates_os.WINDOW_WANTS):
        assert not (root / absent.lstrip("/")).exists()
    assert current(root).updates == updates_os.Updates()


def test_mirror_schedule_window_and_proxy_are_applied_and_read_back(root: Path) -> None:
    request = {
        "updates": {
            "mirror": "http://mirror.example.org/debian",
            "security_mirror": "http://mirror.example.org/debian-security",
            "schedule": "Mon..Fri *-*-* 04:30",
            "reboot_window": "Sun *-*-* 02:00",
        },
        "proxy": {"address": "proxy.example.org", "port": 3128, "auth": "basic", "user": "u", "password": "p@ss:w/d"},
    }
    outcome = apply(request, root)
    assert outcome.reload_systemd
    assert current(root).updates == updates_os.Updates(**request["updates"])  # type: ignore[arg-type]
    assert "OnCalendar=Sun *-*-* 02:00" in read(root, updates_os.WINDOW_TIMER)
    assert "ConditionPathExists=/run/reboot-required" in read(root, updates_os.WINDOW_SERVICE)
    assert "Wants=nps-reboot-window.timer" in read(root, updates_os.WINDOW_WANTS)
    proxy = root / updates_os.APT_PROXY.lstrip("/")
    assert proxy.stat().st_mode & 0o777 == 0o600  # the password is in it
    assert 'Acquire::http::Proxy "http://u:p%40ss%3Aw%2Fd@proxy.example.org:3128/";' in proxy.read_text()
    assert "p@ss" not in str(outcome.as_dict())
    # No window any more: no reboot by itself; an NTLM proxy: apt cannot speak it.
    apply({"updates": {"reboot_window": ""}, "proxy": {**request["proxy"], "auth": "ntlm"}}, root)  # type: ignore[dict-item]
    for gone in (updates_os.WINDOW_TIMER, updates_os.WINDOW_SERVICE, updates_os.WINDOW_WANTS, updates_os.APT_PROXY):
        assert not (root / gone.lstrip("/")).exists(), gone
    assert current(root).updates.mirror == "http://mirror.example.org/debian"


@pytest.mark.parametrize(
    ("updates", "field"),
    [
        ({"mirror": "ftp://old.example.org/debian"}, "updates.mirror"),
        ({"security_mirror": "mirror.example.org"}, "updates.security_mirror"),
        ({"schedule": "03:00; rm -rf /"}, "updates.schedule"),
        ({"reboot_window": "Sun\n02:00"}, "updates.reboot_window"),
        ({"when": "now"}, "updates"),
    ],
)
def test_bad_values_are_refused_with_their_field(root: Path, updates: dict[str, str], field: str) -> None:
    with pytest.raises(SettingsError) as e:
        apply({"updates": updates}, root)
    assert e.value.field == field


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze: Debian's systemd")
def test_systemd_reads_the_calendar_times() -> None:
    for when in (updates_os.Updates().schedule, "Sun *-*-* 02:00", "Mon..Fri *-*-* 04:30"):
        subprocess.run(["systemd-analyze", "calendar", when], capture_output=True, check=True)


@pytest.mark.skipif(shutil.which("apt-config") is None, reason="apt-config: Debian's apt")
def test_apt_reads_the_proxy_and_the_periodic_settings(root: Path) -> None:
    apply({"proxy": {"address": "proxy.example.org", "port": 8080, "auth": "none"}}, root)
    conf = root / "etc/apt/apt.conf.d"
    for name in ("20auto-upgrades", "80nps-proxy"):
        done = subprocess.run(
            ["apt-config", "-c", str(conf / name), "dump"], capture_output=True, text=True, check=True
        ).stdout
        if name == "80nps-proxy":
            assert 'Acquire::http::Proxy "http://proxy.example.org:8080/";' in done
        else:
            assert 'APT::Periodic::Unattended-Upgrade "1";' in done

"""`nps-sensor status` for people: a figure the service does not have yet reads n/a."""

from __future__ import annotations

from nps_sensor.live.status import render


def test_figures_not_known_yet_read_na() -> None:
    status = {
        "state": "sensing",
        "workers": 2,
        "uptime_seconds": 0.4,
        "throughput": {"pps": 0, "mbps": 0.0, "utilisation_percent": 0.0},
        "capacity": {},
        "interfaces": [
            {"name": "eth1", "mode": "DEFAULT", "link": "down", "since": "2026-01-01T00:00:00.000000Z"},
            {"name": "eth2", "mode": "ERSPAN", "link": "missing", "since": None, "address": None},
        ],
        "system": {"cpu_percent": None, "sensor_memory_mb": 81.2, "memory": {}, "disk": {"used_percent": 40.0}},
        "spool": {"reports": 0, "bytes": 0, "directory": "/var/lib/nps-sensor/spool", "dropped": 0},
        "reports": {"written": 0, "last": None, "next": None},
    }
    text = render(status)
    assert "None" not in text
    assert "CPU n/a," in text and "RAM n/a used" in text and "(0.0% of n/a calibrated)" in text
    assert "link down since 2026-01-01T00:00:00.000000Z" in text and "eth2 (ERSPAN) link missing:" in text
    assert "last none yet, next n/a" in text

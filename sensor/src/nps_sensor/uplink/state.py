"""What registration leaves on the appliance: the hub's address, the sensor's own
credential and the certificate to trust, in one root-only file (mode 0600)."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from nps_sensor import atomic
from nps_sensor.errors import SensorError

DEFAULT_STATE = "/var/lib/nps-sensor/hub.json"


@dataclass
class HubState:
    hub: str  # https://host:port
    token: str = field(repr=False)
    sensor_id: int = 0
    name: str = ""
    ca_pem: str = ""  # the certificate(s) to trust for the hub, pinned at registration; empty: the system's
    heartbeat_interval: float = 30.0
    config_version: int = 0
    done: list[int] = field(default_factory=list)  # commands run, newest last (a command runs once)
    acks: list[dict[str, Any]] = field(default_factory=list)  # acknowledgements not yet delivered
    update: dict[str, Any] = field(default_factory=dict)  # the hub's update command running: {command, started}


def load(path: str) -> HubState:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return HubState(**data)
    except FileNotFoundError:
        raise SensorError(
            f"{path}: this sensor is not registered with a hub (run `nps-sensor register --hub URL`)"
        ) from None
    except (OSError, ValueError, TypeError) as e:
        raise SensorError(f"{path}: unreadable registration ({e}); register again") from None


def save(path: str, state: HubState) -> None:
    """Atomically, mode 0600: the credential is a secret."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o750, exist_ok=True)
    atomic.write(path, json.dumps(asdict(state), indent=1).encode(), 0o600)


def forget(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)

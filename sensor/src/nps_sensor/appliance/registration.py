"""Registration the deployment asked for: the hub and code given as OVF properties (or
by the Ansible roles), used once the network is up, without anyone at the console.

Run by nps-register.service at boot while the appliance is not registered. A hub that
cannot be reached yet (the network still coming up, the hub down) exits with
EX_TEMPFAIL, which the service retries; a refusal (a wrong or used code, another
certificate than the pinned one) exits 2 and is not retried: the console says the rest.
A code that worked is deleted: it never works twice.
"""

from __future__ import annotations

import logging
from pathlib import Path

from nps_sensor.appliance.apply import current
from nps_sensor.appliance.render import PROXY_ENV, REGISTRATION
from nps_sensor.errors import SensorError

log = logging.getLogger("nps-register")
EX_TEMPFAIL = 75


def run(root: Path = Path("/")) -> int:
    from nps_sensor.uplink import proxy
    from nps_sensor.uplink.client import Retry
    from nps_sensor.uplink.register import register
    from nps_sensor.uplink.state import DEFAULT_STATE

    state = root / DEFAULT_STATE.lstrip("/")
    if state.exists():
        log.info("already registered (%s): nothing to do", DEFAULT_STATE)
        return 0
    s = current(root)
    if not (s.registration_hub and s.registration_code):
        raise SensorError("no hub and code from the deployment: register at the console (Personalize this scanner)")
    settings = proxy.load(str(root / PROXY_ENV.lstrip("/")))
    try:
        done = register(
            s.registration_hub, s.registration_code, str(state), None, settings, s.registration_fingerprint or None
        )
    except Retry as e:
        log.warning("not registered yet, will try again: %s", e)
        return EX_TEMPFAIL
    (root / REGISTRATION.lstrip("/")).unlink(missing_ok=True)
    log.info("registered with %s as sensor %r", done.hub, done.name)
    return 0

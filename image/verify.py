"""Post-deploy verification: is this appliance sensing? (`inv appliance.check`)

Over SSH as the management user, the appliance's own `nps-sensor status --json` (run
with sudo: the registration file is root's) says the sensing state, each sniffing
interface (link, promiscuous, receive offloads, packets, drops), the registration and
the version. The verdict is what a runbook needs: sensing, and every sniffing NIC up,
promiscuous and with GRO/LRO off. The registration is reported, not required (a
sensor may run without a hub).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from .ssh import Remote, SSHError

SENSOR = "/opt/nps-sensor/bin/nps-sensor"


@dataclass
class Verdict:
    status: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def packets(self) -> int:
        return sum(int(i.get("received", 0)) for i in self.status.get("interfaces", []))

    def lines(self) -> list[str]:
        s = self.status
        out = [f"sensing:      {s.get('state')} ({s.get('workers')} workers, up {s.get('uptime_seconds', 0):.0f} s)"]
        for i in s.get("interfaces", []):
            out.append(
                f"interface:    {i['name']} ({i.get('mode')}): link {i.get('link')}, "
                f"promiscuous {_word(i.get('promiscuous'))}, receive offloads off {_word(i.get('offloads_off'))}, "
                f"{i.get('received', 0)} packets, {i.get('dropped', 0)} dropped"
            )
        reg = s.get("registration", {})
        if reg.get("registered"):
            out.append(f"registration: {reg.get('hub')} as sensor {reg.get('name')!r}")
        else:
            out.append(f"registration: {reg.get('error') or 'not registered'}")
        out.append(f"version:      nps-sensor {s.get('version')}")
        out += [f"PROBLEM:      {p}" for p in self.problems]
        return out


def _word(value: object) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def judge(status: dict[str, Any]) -> Verdict:
    verdict = Verdict(status)
    if status.get("state") != "sensing":
        verdict.problems.append(f"the sensor is {status.get('state')}, not sensing")
    interfaces = status.get("interfaces", [])
    if not interfaces:
        verdict.problems.append("no sniffing interface is configured")
    for i in interfaces:
        if i.get("link") != "up":
            verdict.problems.append(f"{i['name']}: link {i.get('link')}")
        if i.get("promiscuous") is False:
            verdict.problems.append(f"{i['name']}: not promiscuous (frames for other MACs are dropped)")
        if i.get("offloads_off") is False:
            verdict.problems.append(f"{i['name']}: GRO or LRO on (captured frames are merged segments)")
    return verdict


def status(remote: Remote) -> dict[str, Any]:
    """The appliance's `nps-sensor status --json`; SSHError with its one-line reason."""
    done = remote.run("sudo", "-n", SENSOR, "status", "--json", timeout=30)
    if done.code != 0:
        reason = (done.stderr.strip() or done.stdout.strip() or f"exit {done.code}").splitlines()[-1]
        raise SSHError(f"{remote.where}: nps-sensor status: {reason}")
    try:
        body: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        raise SSHError(f"{remote.where}: nps-sensor status did not answer JSON") from None
    return body


def check(remote: Remote, wait: float = 0.0, packets: int = 0, every: float = 5.0) -> Verdict:
    """The verdict; with `wait`, ask again until the appliance is sensing (and has seen
    `packets`), or the time is up. A changed host key ends it at once."""
    deadline = time.monotonic() + wait
    while True:
        try:
            verdict = judge(status(remote))
            if packets and verdict.packets() < packets:
                verdict.problems.append(f"{verdict.packets()} packets seen, {packets} expected")
            if verdict.ok or time.monotonic() >= deadline:
                return verdict
        except SSHError as e:
            if type(e) is not SSHError or time.monotonic() >= deadline:
                raise
        time.sleep(every)

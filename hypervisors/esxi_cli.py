"""What the `deploy.esxi*` tasks do besides calling the deployer: secrets, properties, output.

Secrets never come from arguments (they would show in `ps` and in shell history):
the vSphere password comes from NPS_VSPHERE_PASSWORD or a prompt, the secret OVF
properties (proxy password, registration code) from their own variables or from a
properties file that only its owner can read.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .esxi_errors import DeployError

PASSWORD_ENV = "NPS_VSPHERE_PASSWORD"
SECRET_ENV = {"proxy.password": "NPS_PROXY_PASSWORD", "registration.code": "NPS_REGISTRATION_CODE"}


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def password(user: str, server: str) -> str:
    """The vSphere password: from the environment, else a prompt on the terminal."""
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        raise DeployError(f"no password: set {PASSWORD_ENV} (it is never taken as an argument)")
    try:
        value = getpass.getpass(f"password for {user} at {server}: ")
    except (EOFError, KeyboardInterrupt):
        raise DeployError("no password given") from None
    if not value:
        raise DeployError("no password given")
    return value


def endpoint(server: str, user: str, ca_bundle: str, insecure: bool) -> Any:
    """The Endpoint for the tasks' connection options (the password read here)."""
    from .esxi_connect import Endpoint

    if not server:
        raise DeployError("--server: the ESXi host or vCenter to deploy to (name, address or https://URL)")
    if not user:
        raise DeployError("--user: the vSphere user (root on ESXi, like administrator@vsphere.local on vCenter)")
    if ca_bundle and insecure:
        raise DeployError("--ca-bundle and --insecure exclude each other")
    if ca_bundle and not Path(ca_bundle).is_file():
        raise DeployError(f"--ca-bundle {ca_bundle}: no such file")
    if insecure:
        warn(f"--insecure: {server}'s TLS certificate is not checked; whoever sits in between sees the password")
    return Endpoint(server, user, password(user, server), Path(ca_bundle) if ca_bundle else None, insecure)


def properties(pairs: Iterable[str], file: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """OVF property values: the file's, then KEY=VALUE arguments (secrets refused), then the secrets' variables."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    if file:
        values.update(_from_file(Path(file)))
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise DeployError(f"--prop {pair.split('=')[0]!r}: give KEY=VALUE, like --prop hostname=sensor-1")
        if key in SECRET_ENV:
            raise DeployError(
                f"--prop {key}: a secret is never an argument (it shows in ps); set {SECRET_ENV[key]} "
                "or put it in a --properties file only you can read"
            )
        values[key] = value
    for key, var in SECRET_ENV.items():
        if env.get(var):
            values[key] = env[var]
    return values


def _from_file(path: Path) -> dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise DeployError(f"--properties {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise DeployError(f"--properties {path}{line}: not YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DeployError(f"--properties {path}: a mapping of OVF property keys to values, like `hostname: s1`")
    values = {str(k): "" if v is None else str(v) for k, v in data.items()}
    if set(values) & set(SECRET_ENV) and path.stat().st_mode & 0o077:
        raise DeployError(f"--properties {path} holds secrets and others may read it: chmod 600 {path}")
    return values


def newest_ova(dist: Path = Path("dist")) -> Path:
    found = sorted(dist.glob("nps-sensor-*.ova"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise DeployError(f"no OVA in {dist}/: build one with `inv image.build`, or give --ova FILE")
    return found[-1]


def print_status(report: Mapping[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['name']}: {report['power']} on {report['host']}, {report['vcpus']} vCPU, {report['memory_mb']} MB")
    if report.get("moved"):
        print(
            f"  MOVED: deployed on {report['deployed_on']}, now on {report['host']}: the mirror reaches "
            f"{report['deployed_on']}'s uplink; move it back (its sniffing port group is per host)"
        )
    print(f"  management NIC on {report['management_nic']}; guest address {report['guest_ip'] or 'unknown'}")
    print(f"  sniffing NICs: {', '.join(report['sniffing_nics']) or 'none'}")
    capture = report["capture"]
    flags = ("allowPromiscuous", "forgedTransmits", "macChanges")
    for kind in ("portgroup", "vswitch"):
        part = capture.get(kind)
        if part is None:
            print(f"  {kind}: not found")
            continue
        vlan = f", VLAN {part['vlan']}" if "vlan" in part else ""
        print(f"  {kind} {part['name']}{vlan}: " + ", ".join(f"{f} {'yes' if part[f] else 'NO'}" for f in flags))
